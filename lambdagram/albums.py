"""Albums: a handler receives a whole media group once, although its parts are separate updates.

A bot asks for it the way polling bots do, with a middleware::

    from lambdagram.albums import AlbumMiddleware

    router.message.middleware(AlbumMiddleware())

    @router.message(F.media_group_id)
    async def album_handler(message: Message, album: list[Message]) -> None: ...

Under plain aiogram (polling), `AlbumMiddleware` collects the parts in memory for
``latency`` seconds, like the collectors in aiogram guides. Under lambdagram that cannot
work: Telegram sends a chat's next update only after the previous one was answered, so an
invocation waiting for later parts would wait for ever. Instead each part is stored in Redis
(on the chat's slot) and answered at once; the first part also queues one asynchronous
invocation of the function (`lambdagram.deferred`), which waits until no part has arrived
for ``ALBUM_WAIT`` seconds (1.5 s, which covers a cold start of the instance that gets the
next part; at most ``MAX_WAIT_FACTOR`` times that in all), then claims
the chat like any update and runs the handler once, with ``album`` sorted by message id.
Its commit deletes the album atomically with the FSM writes. A part arriving after that
starts a new album. Without Lambda (local tools) the first part closes the album itself.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import Message, TelegramObject, Update

ALBUM_DATA = "lambdagram_album"  # the workflow-data key the engine fills for the middleware
ALBUM_TTL = 3600  # seconds a stored album may wait for its closing invocation
MAX_WAIT_FACTOR = 10
CLOSER_ATTEMPTS = 3
"""Lambda runs an asynchronous invocation at most this often (``MaximumRetryAttempts: 2`` in
``serverless.yml``): a closer failing on its last attempt dead-letters the album instead."""
CLOSER_MARK_SLACK = 60
"""Seconds the "a closer is queued" mark outlives the closer's own longest wait: a part that
comes later (its closer lost) queues a new one instead of waiting for ever."""

_STORE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 'duplicate' end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[4])
redis.call('SET', KEYS[3], ARGV[3], 'EX', ARGV[4])
redis.call('SET', KEYS[1], 'done', 'EX', ARGV[5])
if redis.call('SET', KEYS[4], '1', 'NX', 'EX', ARGV[6]) then return 'first' end
return 'stored'
"""

_COUNT = """
local attempts = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[1])
return attempts
"""

_GIVE_UP = """
local parts = redis.call('HVALS', KEYS[1])
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
return parts
"""


class AlbumMiddleware(BaseMiddleware):
    """Gives handlers ``album: list[Message]``, one call per media group (a message middleware)."""

    def __init__(self, latency: float = 0.2) -> None:
        """``latency``: how long plain aiogram (polling) waits for the other parts."""
        self.latency = latency
        self._pending: dict[str, list[Message]] = {}

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if not isinstance(event, Message) or event.media_group_id is None:
            return await handler(event, data)
        if ALBUM_DATA in data:  # lambdagram gathered the parts across webhooks
            data["album"] = data[ALBUM_DATA]
            return await handler(event, data)
        group = event.media_group_id
        if group in self._pending:  # polling: another part of an album being collected
            self._pending[group].append(event)
            return None
        self._pending[group] = [event]
        try:
            await asyncio.sleep(self.latency)
            data["album"] = sorted(self._pending[group], key=lambda m: m.message_id)
            return await handler(event, data)
        finally:
            del self._pending[group]


def message_of(update: Update) -> Message | None:
    """The message an update carries that can be part of an album, if any."""
    return update.message or update.business_message or update.channel_post


def group_of(update: Update) -> str | None:
    """The media group of a message update, or None."""
    message = message_of(update)
    return None if message is None else message.media_group_id


def keys(slot: str, group: str) -> tuple[str, str, str, str]:
    """The album's parts (a hash by message id), its last-arrival time, its closer mark, and
    its closers' attempts."""
    base = f"lg:{slot}:album:{group}"
    return base, f"{base}:last", f"{base}:closer", f"{base}:attempts"


async def store(
    redis: Any,
    slot: str,
    group: str,
    dedupe_key: str,
    update: Update,
    raw: dict[str, Any],
    done_ttl: int,
    closer_ttl: int,
) -> str:
    """Store one part; ``first`` (schedule the closer), ``stored`` or ``duplicate``."""
    parts, last, closer, _ = keys(slot, group)
    message = message_of(update)
    assert message is not None
    reply = await redis.eval(
        _STORE,
        4,
        dedupe_key,
        parts,
        last,
        closer,
        message.message_id,
        json.dumps(raw, ensure_ascii=False),
        int(time.time() * 1000),
        ALBUM_TTL,
        done_ttl,
        closer_ttl,
    )
    return reply.decode() if isinstance(reply, bytes) else str(reply)


async def wait_until_quiet(redis: Any, slot: str, group: str, quiet: float, limit: float) -> bool:
    """Wait until no part arrived for ``quiet`` s (at most ``limit`` s); False if gone."""
    last_key = keys(slot, group)[1]
    started = time.monotonic()
    while True:
        last = await redis.get(last_key)
        if last is None:
            return False  # closed already (a retried closer)
        idle = time.time() - int(last) / 1000
        left = limit - (time.monotonic() - started)
        if idle >= quiet or left <= 0:
            return True
        await asyncio.sleep(max(0.01, min(quiet - idle, left)))


async def count_closer_attempt(redis: Any, slot: str, group: str) -> int:
    """Count one more closing attempt of the album; how many there were in all."""
    return int(await redis.eval(_COUNT, 1, keys(slot, group)[3], ALBUM_TTL))


async def reopen(redis: Any, slot: str, group: str, part_dedupe_key: str) -> None:
    """Forget that a part was stored and that a closer is queued: a closing done in the part's
    own webhook failed, and Telegram's retry of the part must store and close it again."""
    await redis.delete(part_dedupe_key, keys(slot, group)[2])


async def give_up(redis: Any, slot: str, group: str) -> list[dict[str, Any]]:
    """Remove the album (its keys, at once) and return its parts, to be dead-lettered."""
    stored = await redis.eval(_GIVE_UP, 4, *keys(slot, group))
    return [json.loads(part) for part in stored]


async def parts(redis: Any, slot: str, group: str) -> list[dict[str, Any]]:
    """The stored parts' raw updates, in message order."""
    stored = await redis.hgetall(keys(slot, group)[0])
    return [json.loads(stored[k]) for k in sorted(stored, key=int)]
