"""Reply in webhook: a handler's returned Bot API method as the HTTP response body."""

from __future__ import annotations

from typing import Any

from aiogram import Bot
from aiogram.methods import TelegramMethod
from aiogram.types import InputFile


def webhook_reply(bot: Bot, method: TelegramMethod[Any]) -> dict[str, Any] | None:
    """The JSON body Telegram runs as ``method`` after our response, or None if it can't.

    ``model_dump(mode="json")`` fails on aiogram's ``Default(...)`` placeholders, so each
    field goes through the session's ``prepare_value`` (as aiogram's aiohttp webhook does),
    which resolves them from the bot's ``DefaultBotProperties``. Uploads (``InputFile``)
    need multipart: for those this returns None and the caller sends the method itself.
    """
    files: dict[str, InputFile] = {}
    body: dict[str, Any] = {"method": method.__api_method__}
    for name, value in method.model_dump(warnings=False).items():
        prepared = bot.session.prepare_value(value, bot=bot, files=files, _dumps_json=False)
        if prepared is not None:
            body[name] = prepared
    return None if files else body
