"""handler.py for the notes bot: its whole glue is these three lines."""

from pathlib import Path

from lambdagram import Lambdagram

app = Lambdagram.from_polling(Path(__file__).parent / "notes" / "bot.py")
handler = app.lambda_handler
