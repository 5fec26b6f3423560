"""A bot translated with gettext, as aiogram's i18n example does it: ``I18n`` over compiled
catalogs in ``locales/``, the user's language from Telegram (``SimpleI18nMiddleware``).

The catalogs are compiled where the bot is built (``pybabel compile -d locales``); the tests
compile ``locales/de/LC_MESSAGES/messages.po`` into the ``.mo`` beside it before they run.
"""

from pathlib import Path

from aiogram import Dispatcher, F, Router
from aiogram.filters import CommandStart
from aiogram.types import Message
from aiogram.utils.i18n import I18n, SimpleI18nMiddleware
from aiogram.utils.i18n import gettext as _

from lambdagram import Lambdagram

LOCALES = Path(__file__).parent / "locales"
router = Router()


@router.message(CommandStart())
async def start(message: Message) -> None:
    name = message.from_user.first_name if message.from_user else "?"
    await message.answer(_("Hello, {name}!").format(name=name))


@router.message(F.text)
async def echo(message: Message) -> None:
    await message.answer(_("You said: {text}").format(text=message.text))


def configure(dp: Dispatcher) -> None:
    i18n = I18n(path=LOCALES, default_locale="en", domain="messages")
    SimpleI18nMiddleware(i18n).setup(dp)
    dp.include_router(router)


app = Lambdagram(configure)
handler = app.lambda_handler
