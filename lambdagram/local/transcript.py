"""Printing a conversation for people: what the user sent and what the bot answered."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

from lambdagram.local.fake_telegram import ApiCall

_TAG = re.compile(r"<[^>]+>")


def plain(text: str, parse_mode: str | None) -> str:
    """Message text as a terminal shows it (HTML tags dropped)."""
    if (parse_mode or "").upper() == "HTML":
        return unescape(_TAG.sub("", text))
    return text


def indent(text: str, prefix: str) -> str:
    """``text`` with ``prefix`` on the first line and matching spaces on the others."""
    pad = " " * len(prefix)
    return "\n".join(
        (prefix if i == 0 else pad) + line for i, line in enumerate(text.splitlines())
    )


def bot_lines(calls: list[ApiCall], reply: dict[str, Any] | None) -> list[str]:
    """The bot's messages for one update: Bot API calls first, then the webhook reply."""
    lines = []
    for call in calls:
        if "text" in call.params:
            text = plain(str(call.params["text"]), call.params.get("parse_mode"))
            lines.append(indent(text, "  bot < ") + "   [Bot API call: " + call.method + "]")
    if reply and "method" in reply:
        text = plain(str(reply.get("text", "")), reply.get("parse_mode"))
        lines.append(indent(text, "  bot < ") + "   [webhook reply: " + str(reply["method"]) + "]")
    return lines
