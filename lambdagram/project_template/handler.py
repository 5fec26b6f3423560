"""AWS Lambda entry point: hands the bot to lambdagram."""

from lambdagram import Lambdagram

from bot import DEFAULTS, configure

app = Lambdagram(configure, default=DEFAULTS)
handler = app.lambda_handler
