"""handler.py for the guide's bot: its whole glue is these three lines."""

from pathlib import Path

from lambdagram import Lambdagram

app = Lambdagram.from_polling(Path(__file__).parent / "guide" / "bot.py")
handler = app.lambda_handler
