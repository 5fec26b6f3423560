"""From raw webhook body to a processed update and the webhook's reply."""

from __future__ import annotations

import json
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.methods import TelegramMethod
from aiogram.types import Update
from pydantic import ValidationError

from bot.dispatcher import build_dispatcher
from bot.errors import BadUpdate
from bot.observability import logger
from bot.reply import webhook_reply
from bot.runtime import Runtime
from bot.storage import create_storage


def parse_body(body: bytes) -> dict[str, Any]:
    """The body as a JSON object with an integer ``update_id``, or `BadUpdate`."""
    try:
        raw = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BadUpdate(f"body is not valid JSON: {error}") from None
    if not isinstance(raw, dict):
        raise BadUpdate(f"body is JSON {type(raw).__name__}, not an object (a Telegram Update)")
    update_id = raw.get("update_id")
    if not isinstance(update_id, int) or isinstance(update_id, bool):
        raise BadUpdate("body has no integer update_id: it is not a Telegram Update")
    return raw


def validate_update(raw: dict[str, Any], bot: Bot) -> Update:
    """The raw update as aiogram's `Update`, bound to ``bot``."""
    try:
        return Update.model_validate(raw, context={"bot": bot})
    except ValidationError as error:
        summary = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()[:3]
        )
        raise BadUpdate(f"update {raw['update_id']} is not a valid Update: {summary}") from None


async def process_update(runtime: Runtime, update: Update) -> dict[str, Any]:
    """Run the update through a fresh Dispatcher; the webhook response body.

    Waits for the handler to finish (Lambda freezes anything left running). A returned
    Bot API method rides in the response when it can; otherwise it is sent here.
    """
    dispatcher = build_dispatcher(
        create_storage(runtime.redis, runtime.settings), runtime.settings
    )
    result = await dispatcher.feed_update(runtime.bot, update)
    if not isinstance(result, TelegramMethod):
        return {}
    reply = webhook_reply(runtime.bot, result)
    if reply is not None:
        return reply
    try:
        await runtime.bot(result)
    except TelegramAPIError as error:
        logger.error("Bot API refused the handler's reply", extra={"error": str(error)})
    return {}
