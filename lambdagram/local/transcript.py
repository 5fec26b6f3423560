"""Printing a conversation for people: what the user sent and what the bot answered.

Texts lose their HTML tags; media show as ``[photo]``; an inline keyboard is listed under
its message with a number per button (`Button`), which the terminal chat lets the user
press; a reply keyboard is listed as the texts one may send; an edit says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import unescape
from typing import Any

from lambdagram.local.bot_api_results import form_json as _json
from lambdagram.local.fake_telegram import ApiCall

_TAG = re.compile(r"<[^>]+>")
_MEDIA = ("photo", "document", "video", "audio", "voice", "animation", "sticker", "video_note")


@dataclass(frozen=True)
class Button:
    """An inline button the bot showed: pressing it sends ``data`` from ``message_id``."""

    text: str
    data: str
    message_id: int


def plain(text: str, parse_mode: str | None) -> str:
    """Message text as a terminal shows it (HTML tags dropped)."""
    if (parse_mode or "").upper() == "HTML":
        return unescape(_TAG.sub("", text))
    return text


def indent(text: str, prefix: str) -> str:
    """``text`` with ``prefix`` on the first line and matching spaces on the others."""
    pad = " " * len(prefix)
    return "\n".join(
        (prefix if i == 0 else pad) + line for i, line in enumerate(text.splitlines() or [""])
    )


def bot_lines(
    calls: list[ApiCall],
    reply: dict[str, Any] | None,
    buttons: list[Button] | None = None,
    *,
    chat_id: int | None = None,
) -> list[str]:
    """The bot's messages for one update: Bot API calls first, then the webhook reply.

    Inline buttons shown are appended to ``buttons`` (numbered from 1 across the turn). With
    ``chat_id``, messages to other chats (a broadcast's) are summed up, a line per message.
    """
    shown = [] if buttons is None else buttons
    lines: list[str] = []
    elsewhere: dict[str, set[str]] = {}
    for call in calls:
        target = str(call.params.get("chat_id", chat_id))
        if chat_id is not None and target != str(chat_id):
            said = _call_lines(call.method, call.params, None, "Bot API call", [])
            if said and call.result is not None:
                elsewhere.setdefault(said[0].strip(), set()).add(target)
            continue
        lines.extend(_call_lines(call.method, call.params, call.result, "Bot API call", shown))
    for what, chats in elsewhere.items():
        lines.append(f"  bot → {len(chats)} other chat(s): {what.removeprefix('bot < ')}")
    if reply and "method" in reply:
        params = {k: v for k, v in reply.items() if k != "method"}
        lines.extend(_call_lines(str(reply["method"]), params, None, "webhook reply", shown))
    return lines


def _call_lines(
    method: str, params: dict[str, Any], result: Any, via: str, buttons: list[Button]
) -> list[str]:
    kind = method.removeprefix("send").lower()
    if method == "answerCallbackQuery":
        text = params.get("text")
        return [f"  bot ! {text}   [{method}]"] if text else []
    if method == "sendChatAction":
        return [f"  bot … {params.get('action')}   [{via}: {method}]"]
    if method == "sendMediaGroup":
        media = _json(params.get("media")) or []
        return [f"  bot < [album of {len(media)}]   [{via}: {method}]"]
    if "text" in params or "caption" in params or kind in _MEDIA:
        body = plain(
            str(params.get("text") or params.get("caption") or ""), params.get("parse_mode")
        )
        if kind in _MEDIA:
            body = f"[{kind}] {body}".rstrip()
        prefix = "  bot (edited) < " if method.startswith("edit") else "  bot < "
        lines = [indent(body, prefix) + f"   [{via}: {method}]"]
        lines.extend(_keyboard_lines(params, result, buttons))
        return lines
    return []


def _keyboard_lines(params: dict[str, Any], result: Any, buttons: list[Button]) -> list[str]:
    markup = _json(params.get("reply_markup"))
    markup = markup if isinstance(markup, dict) else {}
    if "keyboard" in markup:
        keys = [
            str(b.get("text", b) if isinstance(b, dict) else b)
            for r in markup["keyboard"]
            for b in r
        ]
        return ["        keyboard: " + " | ".join(keys)]
    message_id = params.get("message_id") or (result or {}).get("message_id")
    lines = []
    for row in markup.get("inline_keyboard", []):
        cells = []
        for button in row:
            if "callback_data" in button and message_id is not None:
                buttons.append(Button(button["text"], button["callback_data"], int(message_id)))
                cells.append(f"[#{len(buttons)} {button['text']}]")
            else:
                cells.append(f"[{button['text']}]")
        lines.append("        " + " ".join(cells))
    return lines
