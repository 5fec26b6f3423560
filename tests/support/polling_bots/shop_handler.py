"""handler.py for the shop bot: its whole glue is these three lines."""

from pathlib import Path

from lambdagram import Lambdagram

app = Lambdagram.from_polling(Path(__file__).parent / "shop" / "__main__.py")
handler = app.lambda_handler
