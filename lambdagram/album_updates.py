"""Albums through the engine: each part stored and answered at once, the whole group handled
once by a closing invocation (`lambdagram.albums` keeps the parts; `lambdagram.deferred` queues
the closer). See `lambdagram.albums` for the protocol.
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any

from aiogram.types import Update
from redis.exceptions import RedisError

from lambdagram import albums, deadletter, deferred
from lambdagram.delivery import DONE_TTL, chat_slot, dedupe_key, queued_key
from lambdagram.dispatch import Album, dispatch, fsm_key, prepare, unavailable
from lambdagram.errors import WebhookError
from lambdagram.fsm import Write
from lambdagram.observability import Metric, count, logger
from lambdagram.parsing import Unprocessable, to_update
from lambdagram.runtime import Runtime


async def album_part(
    runtime: Runtime, update: Update, raw: dict[str, Any], group: str, max_wait: float
) -> dict[str, Any]:
    """Store one part of an album and answer at once; the first part schedules the closing."""
    bot = runtime.bot
    slot = chat_slot(bot.id, fsm_key(runtime.blueprint.root, bot, update))
    wait = runtime.settings.album_wait
    closer_ttl = int(wait * albums.MAX_WAIT_FACTOR) + albums.CLOSER_MARK_SLACK
    mark = dedupe_key(slot, update.update_id)
    try:
        verdict = await albums.store(
            runtime.redis,
            slot,
            group,
            mark,
            update,
            raw,
            DONE_TTL,
            closer_ttl,
        )
    except RedisError as error:
        raise unavailable(error) from None
    if verdict == "duplicate":
        count(Metric.DUPLICATES)
        return {"ok": True, "duplicate": True}
    count(Metric.ALBUM_PARTS)
    if verdict == "first":
        if await deferred.defer({"album": raw}, os.environ):
            return {"ok": True, "album_part": True}
        # Nothing to close it later: close it now, without waiting for parts that Telegram
        # sends only after this answer (each part becomes an album of its own). If that fails,
        # the part is given back whole, so Telegram's retry stores and closes it again.
        try:
            return await close_album(
                runtime, raw, max_wait=max_wait, reply_in_webhook=True, wait=False
            )
        except WebhookError:
            with contextlib.suppress(RedisError):
                await albums.reopen(runtime.redis, slot, group, mark)
            raise
    return {"ok": True, "album_part": True}


async def close_album(
    runtime: Runtime,
    raw: dict[str, Any],
    *,
    max_wait: float,
    reply_in_webhook: bool = False,
    wait: bool = True,
    from_queue: bool = False,
) -> dict[str, Any]:
    """Wait for an album's last part, then run the handlers once on the whole of it.

    A closer that fails is retried by Lambda (one run in a part's own webhook, by Telegram);
    on its last attempt (`albums.CLOSER_ATTEMPTS`) the album is dead-lettered, part by part,
    instead of being lost. A closer whose chat has long work queued or running puts the album
    on the queue behind it (`album_message`), and the worker closes it in the chat's order
    (``from_queue``, without waiting again).
    """
    bot = runtime.bot
    await prepare(runtime)  # a closer may be its process's first invocation
    first_part = to_update(raw, bot)
    group = albums.group_of(first_part)
    if group is None:
        raise Unprocessable("its update is not part of a media group")
    slot = chat_slot(bot.id, fsm_key(runtime.blueprint.root, bot, first_part))
    quiet = runtime.settings.album_wait
    redis = runtime.redis
    try:
        limit = min(quiet * albums.MAX_WAIT_FACTOR, max_wait)
        open_ = not wait or await albums.wait_until_quiet(redis, slot, group, quiet, limit)
        stored = await albums.parts(redis, slot, group) if open_ else []
        attempt = await albums.count_closer_attempt(redis, slot, group) if stored else 0
    except RedisError as error:
        raise unavailable(error) from None
    if not stored:
        return {"ok": True, "duplicate": True}
    updates = [to_update(part, bot) for part in stored]
    messages = [m for u in updates if (m := albums.message_of(u))]
    album = Album(
        claim_id=f"album:{group}:{messages[0].message_id}",
        messages=messages,
        cleanup=[Write(key, None, None) for key in albums.keys(slot, group)],
    )
    try:
        return await dispatch(
            runtime,
            updates[0],
            max_wait,
            reply_in_webhook,
            album,
            from_queue=from_queue,
            queued_as=album_message(raw),
        )
    except WebhookError as error:
        if attempt < albums.CLOSER_ATTEMPTS:
            raise
        return await _album_given_up(runtime, slot, group, attempt, error)


async def give_up_album(runtime: Runtime, raw: dict[str, Any], reason: str) -> int:
    """An album whose queued closing the queue gave up: its parts kept as dead letters, its
    closing off the chat's queue; how many parts."""
    bot = runtime.bot
    first_part = to_update(raw, bot)
    group = albums.group_of(first_part)
    if group is None:
        raise Unprocessable("its update is not part of a media group")
    slot = chat_slot(bot.id, fsm_key(runtime.blueprint.root, bot, first_part))
    parts = await albums.give_up(runtime.redis, slot, group)
    for part in parts:
        await deadletter.push(runtime.redis, bot.id, part, reason)
    queued = await runtime.redis.zrange(queued_key(slot), 0, -1)
    members = [_text(m) for m in queued if isinstance(m, bytes | str)]
    closing = [m for m in members if m.startswith(f"album:{group}:")]
    if closing:
        await runtime.redis.zrem(queued_key(slot), *closing)
    count(Metric.DEAD_LETTERS, len(parts))
    logger.error(
        "album given up by the long-work queue; its parts are kept as dead letters",
        extra={"reason": reason, "parts": len(parts), "alert": "dead_letter"},
    )
    return len(parts)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def album_message(raw: dict[str, Any]) -> str:
    """The long-work queue's message for an album's closing (its first part, as the closer's
    internal event carries it)."""
    return json.dumps({"album": raw}, separators=(",", ":"), ensure_ascii=False)


async def _album_given_up(
    runtime: Runtime, slot: str, group: str, attempts: int, error: WebhookError
) -> dict[str, Any]:
    """The closer's last attempt failed: every part becomes a dead letter, the album goes."""
    reason = f"album {group} not handled after {attempts} attempts: {error.message}"
    try:
        parts = await albums.give_up(runtime.redis, slot, group)
        for part in parts:
            await deadletter.push(runtime.redis, runtime.bot.id, part, reason)
    except RedisError as failure:
        raise unavailable(failure) from None
    count(Metric.DEAD_LETTERS, len(parts))
    logger.error(
        "album cannot be handled; its parts are kept as dead letters",
        extra={"reason": reason, "parts": len(parts), "alert": "dead_letter"},
    )
    return {"ok": True, "dead_letter": True}
