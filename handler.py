"""AWS Lambda entry point: Telegram webhook -> mangum -> the bot's ASGI app."""

import os

from mangum import Mangum

from bot import snapstart
from bot.app import create_app
from bot.observability import instrument
from bot.runtime import ensure_event_loop
from bot.settings import Settings
from bot.ssm import resolve_parameters

ensure_event_loop()  # one loop for the life of the process; mangum runs every call on it
app = create_app(Settings.from_environ(resolve_parameters(os.environ)))
snapstart.register(app)  # no-op unless the Lambda runtime offers SnapStart hooks
handler = instrument(Mangum(app, lifespan="off"))
