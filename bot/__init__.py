"""The example bot: a short questionnaire, written exactly as for polling.

Routers live in ``bot/handlers/`` as module-level ``router = Router()`` objects with
decorators (aiogram's ``examples/multi_file_bot``). `configure` is what a polling bot's
``main()`` does to its Dispatcher before ``start_polling``; ``handler.py`` hands it to
lambdagram, which applies it once per process and copies the result into the fresh
Dispatcher it builds for every update.
"""

from aiogram import Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.enums import ParseMode

from lambdagram.broadcasts import setup_broadcasts

from bot.handlers import card, common, fallback, questionnaire, reminders

# What `Bot(token, default=...)` gets under polling: the replies use <b> and <i>.
DEFAULTS = DefaultBotProperties(parse_mode=ParseMode.HTML)


def configure(dp: Dispatcher) -> None:
    """Include the routers, in the order the Dispatcher tries them (fallback last); the
    reminders' job; and broadcasts, for the owner's announcements (``make broadcast``)."""
    dp.include_routers(
        common.router, questionnaire.router, card.router, reminders.router, fallback.router
    )
    reminders.jobs.setup(dp)
    setup_broadcasts(dp)
