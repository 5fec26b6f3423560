"""handler.py for the echo bot: its whole glue is these three lines."""

from pathlib import Path

from lambdagram import Lambdagram

app = Lambdagram.from_polling(Path(__file__).parent / "echo" / "bot.py")
handler = app.lambda_handler
