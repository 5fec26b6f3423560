"""From a webhook body to aiogram's `Update`: what can be parsed, and why not."""

from __future__ import annotations

import json
from typing import Any

from aiogram import Bot
from aiogram.types import Update
from aiogram.types.update import UpdateTypeLookupError
from pydantic import ValidationError

from lambdagram.errors import BadUpdate

MAX_DEPTH = 64
"""Deepest JSON nesting accepted; a real Update (replies, pins, keyboards) nests about 12 deep."""


def parse_body(body: bytes) -> dict[str, Any]:
    """The body as a JSON object with an integer ``update_id``, or `BadUpdate`."""
    try:
        raw = json.loads(body)
    except RecursionError:
        raise BadUpdate("body is JSON nested too deeply to be a Telegram Update") from None
    except ValueError as error:  # not UTF-8, not JSON, or an integer of thousands of digits
        raise BadUpdate(f"body is not valid JSON: {str(error)[:200]}") from None
    if not isinstance(raw, dict):
        raise BadUpdate(f"body is JSON {type(raw).__name__}, not an object (a Telegram Update)")
    if too_deep(raw):  # Python 3.13's json parses far deeper than 3.12's recursion limit
        raise BadUpdate("body is JSON nested too deeply to be a Telegram Update")
    update_id = raw.get("update_id")
    if not isinstance(update_id, int) or isinstance(update_id, bool):
        raise BadUpdate("body has no integer update_id: it is not a Telegram Update")
    if not 0 <= update_id < 2**63:
        raise BadUpdate("update_id is out of range: it is not a Telegram Update")
    return raw


def too_deep(value: object, limit: int = MAX_DEPTH) -> bool:
    """Whether objects and arrays in ``value`` nest deeper than ``limit`` (no recursion)."""
    level = [value] if isinstance(value, dict | list) else []
    for _ in range(limit):
        level = [
            child
            for node in level
            for child in (node.values() if isinstance(node, dict) else node)
            if isinstance(child, dict | list)
        ]
        if not level:
            return False
    return True


class Unprocessable(ValueError):
    """Telegram sent it, but the installed aiogram cannot process it (say why)."""


def to_update(raw: dict[str, Any], bot: Bot) -> Update:
    """The raw update as aiogram's `Update` bound to ``bot``, or `Unprocessable`."""
    try:
        update = Update.model_validate(raw, context={"bot": bot})
    except ValidationError as error:
        raise Unprocessable(validation_summary(error)) from None
    try:
        update.event_type  # noqa: B018 - raises for kinds this aiogram does not know
    except UpdateTypeLookupError:
        kinds = ", ".join(sorted(set(raw) - {"update_id"})) or "none"
        raise Unprocessable(f"unknown update type ({kinds}): upgrade aiogram") from None
    return update


def validation_summary(error: ValidationError) -> str:
    """The first few problems pydantic found, on one line."""
    problems = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()[:3]]
    more = error.error_count() - len(problems)
    return "; ".join(problems) + (f" (and {more} more)" if more > 0 else "")
