"""The bot, written as for polling: what ``main()`` would do to its Dispatcher, in
`configure`. Replace it with yours (README: "Bring your own bot")."""

from aiogram import Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.enums import ParseMode

from bot.handlers import start

# What `Bot(token, default=...)` gets under polling.
DEFAULTS = DefaultBotProperties(parse_mode=ParseMode.HTML)


def configure(dp: Dispatcher) -> None:
    dp.include_router(start.router)
