"""Dead letters: updates Telegram sent that could not be processed, kept to be replayed.

The installed aiogram cannot validate them, or they were given back too often (poison).
The secret matched, so Telegram sent them; answering 4xx would make Telegram retry them for
24 hours and hold back the chat's later updates. So the webhook answers 200 and keeps the
raw update here, newest first, each update once, in a list capped both by count
(`MAX_ENTRIES`) and by size (`MAX_BYTES`), with a TTL, to be replayed after a fix
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
MAX_BYTES = 16 * 1024 * 1024  # 16 of the largest updates the webhook accepts (1 MiB each)
TTL = 14 * 24 * 3600  # long enough to notice, upgrade and replay

_PUSH = """
if redis.call('SISMEMBER', KEYS[2], ARGV[2]) == 1 then return 0 end
redis.call('LPUSH', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[2])
local total = redis.call('INCRBY', KEYS[3], #ARGV[1])
while redis.call('LLEN', KEYS[1]) > 1 and
    (redis.call('LLEN', KEYS[1]) > tonumber(ARGV[3]) or total > tonumber(ARGV[4])) do
  local oldest = redis.call('RPOP', KEYS[1])
  total = redis.call('DECRBY', KEYS[3], #oldest)
  redis.call('SREM', KEYS[2], cjson.decode(oldest)['id'])
end
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[5]) end
return 1
"""

_REMOVE = """
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then return 0 end
redis.call('SREM', KEYS[2], ARGV[2])
redis.call('DECRBY', KEYS[3], #ARGV[1])
return 1
"""


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


async def push(redis: Redis, bot_id: int, update: dict[str, Any], error: str) -> bool:
    """Keep ``update`` (newest first), dropping the oldest past the caps; False if kept already."""
    update_id = str(update.get("update_id", ""))
    entry = json.dumps(
        {"received_at": time.time(), "error": redact(error), "id": update_id, "update": update}
    )
    kept = await redis.eval(
        _PUSH, 3, *_keys(bot_id), entry, update_id, MAX_ENTRIES, MAX_BYTES, TTL
    )
    return bool(kept)


def _keys(bot_id: int) -> tuple[str, str, str]:
    """The list, the set of the update ids in it, and its size in bytes (one cluster slot)."""
    key = deadletter_key(bot_id)
    return key, f"{key}:ids", f"{key}:bytes"


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
    await redis.eval(_REMOVE, 3, *_keys(bot_id), letter.raw, str(letter.update_id))
