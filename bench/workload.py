"""The benchmark's traffic: questionnaire dialogs of many chats, interleaved."""

from __future__ import annotations

from typing import Any

from lambdagram.local.events import message_update

SECRET = "bench-secret"
TOKEN = "123456789:BENCH-not-a-real-token-0123456789ab"
"""The webhook secret and bot token every bench process uses (none is real)."""


def dialogs(chats: int, first_chat: int) -> list[dict[str, Any]]:
    """Every chat's full dialog (including a wrong age), round-robin across chats."""
    steps = ["/start", "Ada Lovelace", "two hundred", "36", "I write programs"]
    chat_ids = range(first_chat, first_chat + chats)
    return [message_update(text, chat_id=chat) for text in steps for chat in chat_ids]


def per_chat(chats: int, first_chat: int) -> list[list[dict[str, Any]]]:
    """The same dialogs grouped by chat (each chat's updates in order)."""
    steps = ["/start", "Ada Lovelace", "two hundred", "36", "I write programs"]
    return [
        [message_update(text, chat_id=chat) for text in steps]
        for chat in range(first_chat, first_chat + chats)
    ]
