"""Dead letters: updates Telegram sent that the installed aiogram cannot validate.

The secret matched, so Telegram sent it; answering 4xx would make Telegram retry it for
24 hours and hold back the chat's later updates. So the webhook answers 200 and keeps
the raw update here, in a capped list with a TTL, to be replayed after an upgrade
(``python -m lambdagram deadletter list|replay``).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from lambdagram.redaction import redact

MAX_ENTRIES = 1000
TTL = 14 * 24 * 3600  # long enough to notice, upgrade and replay


@dataclass(frozen=True)
class DeadLetter:
    """One kept update: when it came, why it was refused, and the update itself."""

    received_at: float
    error: str
    update: dict[str, Any]
    raw: str  # the stored entry, to remove exactly this one

    @property
    def update_id(self) -> int:
        return int(self.update.get("update_id", 0))


def deadletter_key(bot_id: int) -> str:
    """The list's key: one per bot, in the bot's own cluster slot."""
    return f"lg:{{{bot_id}}}:deadletter"


async def push(redis: Redis, bot_id: int, update: dict[str, Any], error: str) -> None:
    """Keep ``update`` (newest first), dropping the oldest past `MAX_ENTRIES`."""
    entry = json.dumps({"received_at": time.time(), "error": redact(error), "update": update})
    key = deadletter_key(bot_id)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.lpush(key, entry)
        pipe.ltrim(key, 0, MAX_ENTRIES - 1)
        pipe.expire(key, TTL)
        await pipe.execute()


async def entries(redis: Redis, bot_id: int) -> list[DeadLetter]:
    """Every kept update, oldest first."""
    stored: list[bytes | str] = await redis.lrange(deadletter_key(bot_id), 0, -1)
    letters = []
    for item in reversed(stored):
        raw = item.decode() if isinstance(item, bytes) else item
        decoded = json.loads(raw)
        letters.append(
            DeadLetter(decoded["received_at"], decoded["error"], decoded["update"], raw)
        )
    return letters


async def remove(redis: Redis, bot_id: int, letter: DeadLetter) -> None:
    """Drop one entry (after a successful replay)."""
    await redis.lrem(deadletter_key(bot_id), 1, letter.raw)
