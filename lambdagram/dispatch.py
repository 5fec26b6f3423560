"""One update (or one whole album) through the engine: claim, handlers, commit, answer.

claim the chat (dedupe + lock + FSM read) -> run the handlers on a fresh Dispatcher with
buffered FSM writes (and the tasks they start) -> make the webhook reply -> commit atomically.
Errors that Telegram should retry surface as `WebhookError`s. `prepare` is what a process does
before its first update of any kind (the bot's startup hooks, the eviction check).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.dispatcher.middlewares.user_context import UserContextMiddleware
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.fsm.storage.base import StorageKey
from aiogram.methods import TelegramMethod
from aiogram.types import Message, Update
from redis.exceptions import RedisError

from lambdagram import albums, background, budget, deadletter
from lambdagram.blueprint import discard
from lambdagram.delivery import (
    AlreadyQueued,
    ChatBusy,
    ChatCrowded,
    Claim,
    Duplicate,
    InFlight,
    JoinQueue,
    Poisoned,
    chat_slot,
)
from lambdagram.errors import (
    BotApiUnavailable,
    BotStartupFailed,
    ChatCrowdedError,
    ChatLocked,
    OutOfTime,
    QueueUnavailable,
    ServiceUnavailable,
    StorageUnavailable,
    UpdateInFlight,
)
from lambdagram.failures import ServiceError
from lambdagram.fsm import BufferedStorage, UpdateStorage, Write
from lambdagram.observability import Metric, count, logger, milliseconds
from lambdagram.redaction import redact
from lambdagram.reply import webhook_reply
from lambdagram.runtime import BOT_API_TIMEOUT, Runtime
from lambdagram.storage import create_storage, eviction_policy
from lambdagram.tracing import span

RETRYABLE_BOT_API_ERRORS = (
    TelegramNetworkError,  # no answer: network errors, timeouts, redirect loops
    TelegramServerError,  # a 5xx with a Telegram error body
    TelegramRetryAfter,  # flood control
    ClientDecodeError,  # an answer that is not the Bot API's (a proxy's HTML 502, say)
)
"""Telegram did not definitively refuse: a retry later can succeed, so the update is given
back (503) instead of being marked done. Any other Telegram error is a refusal (4xx)."""


async def prepare(runtime: Runtime) -> None:
    """Before any update of this process: the bot's startup hooks (once), the eviction check."""
    await _start_bot(runtime)
    await _check_eviction(runtime)


async def dispatch(
    runtime: Runtime,
    update: Update,
    max_wait: float,
    reply_in_webhook: bool,
    album: Album | None = None,
    *,
    raw: dict[str, Any] | None = None,
    from_queue: bool = False,
) -> dict[str, Any]:
    """One update (or album) through claim, handlers and commit. ``raw``: the update as
    Telegram sent it (what goes on the long-work queue); ``from_queue``: the worker runs it."""
    storage = BufferedStorage(create_storage(runtime.redis, runtime.settings))
    dispatcher = runtime.blueprint.dispatcher(storage)
    deferring = runtime.queue is not None and runtime.blueprint.long_handlers and raw and not album
    mode = "work" if from_queue else "web" if deferring else ""
    try:
        return await _process(
            runtime, update, dispatcher, storage, max_wait, reply_in_webhook, album, raw, mode
        )
    finally:
        discard(dispatcher)


async def _process(
    runtime: Runtime,
    update: Update,
    dispatcher: Dispatcher,
    storage: BufferedStorage,
    max_wait: float,
    reply_in_webhook: bool,
    album: Album | None,
    raw: dict[str, Any] | None,
    mode: str,
) -> dict[str, Any]:
    bot = runtime.bot
    logger.append_keys(update_type=update.event_type)
    key = fsm_key(dispatcher, bot, update)
    cleanup = album.cleanup if album is not None else []
    claim = Claim(
        runtime.scripts,
        chat_slot(bot.id, key),
        album.claim_id if album is not None else update.update_id,
        fsm_keys=_fsm_keys(storage, key),
        ttl_ms=int(runtime.settings.lock_ttl * 1000),
        max_attempts=runtime.settings.max_attempts,
        max_waiters=runtime.settings.chat_waiters if mode != "work" else 1000,
        queue_mode=mode,
    )
    if key is not None:
        logger.append_keys(chat_id=key.chat_id)
    try:
        async with span("redis.claim"):
            await claim.acquire(max_wait, patience(runtime, after=BOT_API_TIMEOUT + 1.0))
    except AlreadyQueued:
        count(Metric.DUPLICATES)
        logger.info("duplicate update: already on the long-work queue, nothing done")
        return {"ok": True, "duplicate": True}
    except JoinQueue:  # the chat's queued updates go first: this one goes behind them
        assert raw is not None
        return await _enqueue(runtime, claim, raw, locked=False)
    except Duplicate:
        count(Metric.DUPLICATES)
        logger.info("duplicate update: already processed, nothing done")
        return {"ok": True, "duplicate": True}
    except Poisoned as poisoned:
        reason = (
            f"given back {poisoned.attempts} times without completing (handler timeouts, "
            "lost locks, Redis or Bot API failures): given up"
        )
        return await dead_letter(
            runtime, update.model_dump(mode="json", exclude_none=True), reason
        )
    except InFlight:
        count(Metric.IN_FLIGHT)
        raise UpdateInFlight(
            f"update {update.update_id} is being processed by another invocation; retry later"
        ) from None
    except ChatCrowded:
        count(Metric.LOCK_TIMEOUTS)
        raise ChatCrowdedError(
            f"{runtime.settings.chat_waiters} invocations are already waiting for this chat; "
            "retry later"
        ) from None
    except ChatBusy as busy:
        count(Metric.LOCK_TIMEOUTS)
        raise ChatLocked(
            f"chat is busy with another update after waiting {busy.waited:.1f} s; retry later"
        ) from None
    except RedisError as error:
        await claim.abandon()  # it may have gone through unseen: free the chat at once
        raise unavailable(error) from None
    if claim.waited:  # only a real wait is worth a metric (and an EMF line)
        milliseconds("LockWait", claim.waited * 1000)
    if key is not None:
        storage.preload(key, claim.state, claim.data)

    left = budget.left()
    bot.session.timeout = BOT_API_TIMEOUT if left is None else max(1.0, min(BOT_API_TIMEOUT, left))
    try:
        async with claim.renewing(), span("handlers"), asyncio.timeout(left):
            extra = {albums.ALBUM_DATA: album.messages} if album is not None else {}
            with (
                _long_work(mode) as run,
                UpdateStorage.serving(storage),
                _timers(runtime),
                broadcasting(runtime),
            ):
                async with background.noted() as tasks:
                    result = await dispatcher.feed_update(bot, update, bots=[bot], **extra)
                await background.settle(tasks, budget.left())  # under the lock, before commit
    except RedisError as error:
        await claim.abandon()
        raise unavailable(error) from None
    except TimeoutError:  # the budget's deadline: answer before Lambda stops the function
        await claim.abandon()
        count(Metric.HANDLER_TIMEOUTS)
        raise OutOfTime(
            "the handlers did not finish before the function's timeout; nothing was saved; "
            "retry later"
        ) from None
    except RETRYABLE_BOT_API_ERRORS as error:
        # Telegram itself is unreachable, failing or throttling: a retry later can succeed,
        # so give the update back (its FSM changes dropped) instead of losing it.
        raise await given_back(claim, error, "during the handler") from None
    except ServiceError as error:
        raise await service_given_back(claim, error, "during the handler") from None
    except Exception:
        return await handler_failed(runtime, claim, cleanup, "handler failed")

    if run is not None and run.deferred:  # a long handler: the worker runs the update
        assert raw is not None
        return await _enqueue(runtime, claim, raw, locked=True)
    # The answer is made before the commit: once the update is marked done, nothing may fail.
    reply: dict[str, Any] | None = None
    if isinstance(result, TelegramMethod):
        try:
            reply = webhook_reply(bot, result) if reply_in_webhook else None
            if reply is None:  # an upload (or no webhook to answer): sent now, at least once
                await _send(bot, result)
            else:
                json.dumps(reply)
        except RETRYABLE_BOT_API_ERRORS as error:
            raise await given_back(claim, error, "sending the reply") from None
        except Exception:
            return await handler_failed(runtime, claim, cleanup, "the reply cannot be sent")
    await commit(runtime, claim, [*storage.writes(), *cleanup])
    return reply or {}


async def _enqueue(
    runtime: Runtime, claim: Claim, raw: dict[str, Any], *, locked: bool
) -> dict[str, Any]:
    """Put the update on the long-work queue, in its chat's message group, then mark it
    queued (in that order: a mark without a message would lose the update). ``locked``: the
    claim holds the chat's lock (its handler was flagged long), else the chat already had
    queued updates and this one joins them without the lock."""
    assert runtime.queue is not None
    from lambdagram import long_work
    from lambdagram.sqs import QueueError

    chat = claim.fsm_keys is not None
    group = claim.slot if chat else f"{claim.slot}:{claim.update_id}"  # no chat: no order
    try:
        async with span("sqs.send"):
            await runtime.queue.send(
                long_work.message_body(raw), group, f"{runtime.bot.id}-{claim.update_id}"
            )
    except QueueError as error:
        if locked:
            await claim.abandon()
        count(Metric.QUEUE_ERRORS)
        raise QueueUnavailable(f"{error}; retry later") from None
    if locked:
        await commit(runtime, claim, [], queued=True)
    else:
        try:
            await claim.join_queue(patience(runtime, after=1.0))
        except RedisError as error:  # on the queue, unmarked: the retry marks it
            raise unavailable(error) from None
    count(Metric.QUEUED)
    return {"ok": True, "queued": True}


def _timers(runtime: Runtime) -> contextlib.AbstractContextManager[Any]:
    """The process's timer backend for this update's handlers (`lambdagram.timers`)."""
    if runtime.timers is None:
        return contextlib.nullcontext()
    from lambdagram import timers

    return timers.serving(runtime.timers)


def broadcasting(runtime: Runtime) -> contextlib.AbstractContextManager[Any]:
    """The process's broadcasts service for this update's handlers (`lambdagram.broadcasts`)."""
    if not runtime.blueprint.broadcasts:
        return contextlib.nullcontext()
    from lambdagram import broadcasts

    return broadcasts.serving(broadcasts.service_of(runtime))


def _long_work(mode: str) -> contextlib.AbstractContextManager[Any]:
    """How long handlers run in this update (`lambdagram.long_work.running`); nothing is
    imported for a bot without them (``mode`` empty)."""
    if not mode:
        return contextlib.nullcontext()
    from lambdagram import long_work

    return long_work.running(mode)


async def _check_eviction(runtime: Runtime) -> None:
    """Once per process: warn loudly if Redis may evict our keys (it breaks exactly-once)."""
    if runtime.eviction_checked:
        return
    runtime.eviction_checked = True
    try:
        policy = await eviction_policy(runtime.redis)
    except RedisError as error:
        logger.warning("could not read Redis's maxmemory_policy", extra={"reason": str(error)})
        return
    if policy is not None and policy != "noeviction":
        count(Metric.EVICTING_REDIS)
        logger.error(
            f"Redis evicts keys when full (maxmemory_policy={policy}): dedupe marks, locks and "
            "dialogs can vanish, so an update may run twice; set it to noeviction "
            "(README: Managed Redis)",
            extra={"alert": "eviction", "maxmemory_policy": policy},
        )


async def _start_bot(runtime: Runtime) -> None:
    """The bot's startup hooks, at the first update of the process (before any claim)."""
    if runtime.blueprint.started:
        return
    try:
        async with span("bot.startup"):
            await runtime.blueprint.startup(runtime.bot)
    except Exception as error:
        logger.exception("the bot's startup hook failed", extra={"alert": "startup"})
        count(Metric.STARTUP_ERRORS)
        raise BotStartupFailed(
            f"the bot's startup hook failed ({type(error).__name__}); "
            "it runs again on the next update"
        ) from None


async def given_back(claim: Claim, error: Exception, doing: str) -> BotApiUnavailable:
    """Give the update back after a Bot API failure that can pass; the error to raise."""
    await claim.abandon()
    count(Metric.BOT_API_ERRORS)
    return BotApiUnavailable(
        f"the Bot API failed {doing} ({type(error).__name__}: {error}); retry later"
    )


async def service_given_back(claim: Claim, error: ServiceError, doing: str) -> ServiceUnavailable:
    """Give the update back after SQS or Scheduler failed a handler's call; the error to raise
    (the step is never dropped for an outside service's fault: `failures.ServiceError`)."""
    await claim.abandon()
    count(Metric.SERVICE_ERRORS)
    return ServiceUnavailable(
        f"{type(error).__name__} {doing}: {redact(str(error))}; nothing was kept; retry later"
    )


async def handler_failed(
    runtime: Runtime, claim: Claim, cleanup: list[Write], what: str
) -> dict[str, Any]:
    """A bug in the handlers (logged): its FSM changes dropped, the update marked done."""
    logger.exception(f"{what}; its FSM changes are dropped", extra={"alert": "handler"})
    count(Metric.HANDLER_ERRORS)
    await commit(runtime, claim, cleanup)
    return {"ok": True, "handled": False}


@dataclass(frozen=True, slots=True)
class Album:
    """A whole media group, handled as one update: its messages and what to delete after."""

    claim_id: str
    messages: list[Message]
    cleanup: list[Write]


def fsm_key(dispatcher: Dispatcher, bot: Bot, update: Update) -> StorageKey | None:
    """The FSM key aiogram will use for ``update`` (None for updates with no chat or user)."""
    event = UserContextMiddleware.resolve_event_context(update)
    context = dispatcher.fsm.resolve_context(
        bot=bot,
        chat_id=event.chat_id,
        user_id=event.user_id,
        thread_id=event.thread_id,
        business_connection_id=event.business_connection_id,
    )
    return None if context is None else context.key


def _fsm_keys(storage: BufferedStorage, key: StorageKey | None) -> tuple[str, str] | None:
    if key is None:
        return None
    build = storage.key_builder.build
    return build(key, "state"), build(key, "data")


def patience(runtime: Runtime, after: float) -> float:
    """How long a claim or commit whose answer timed out is run again (`Claim._run`): a few
    Redis timeouts, never so long that ``after`` seconds no longer fit in the budget."""
    wanted = 3 * runtime.settings.redis_timeout
    left = budget.left()
    return wanted if left is None else max(0.0, min(wanted, left - after))


async def commit(
    runtime: Runtime, claim: Claim, writes: list[Write], *, queued: bool = False
) -> None:
    """Commit the claim's own-slot writes atomically, then any others (rare: another chat);
    ``queued``: mark the update queued instead of done (`Claim.commit`)."""
    tag = claim.slot
    own = [w for w in writes if tag in w.key]
    others = [w for w in writes if tag not in w.key]
    try:
        async with span("redis.commit"):
            committed = await claim.commit(own, patience(runtime, after=1.0), queued=queued)
    except RedisError as error:
        await claim.abandon()  # if the commit never ran: the chat is free at once
        count(Metric.REDIS_ERRORS)
        raise StorageUnavailable(
            f"Redis did not answer the commit ({type(error).__name__}: {error}): the step was "
            "saved whole or not at all, and Telegram's retry finds out which; retry later"
        ) from None
    if not committed:
        blocked = claim.blocked_for()
        if blocked * 1000 > claim.ttl_ms:  # no renewal could run: the loop was never free
            count(Metric.HANDLER_ERRORS)
            raise StorageUnavailable(
                f"the handlers blocked the event loop for {blocked:.1f} s (code that does not "
                f"await), longer than LOCK_TTL ({claim.ttl_ms / 1000:g} s), so the chat's lock "
                "expired; nothing was saved; retry later"
            )
        count(Metric.REDIS_ERRORS)
        raise StorageUnavailable(
            "lost the chat's lock before the commit (Redis slow or restarted); "
            "nothing was saved; retry later"
        )
    if others:  # handlers that wrote another chat's state: best effort, not atomic
        async with runtime.redis.pipeline(transaction=False) as pipe:
            for write in others:
                if write.value is None:
                    pipe.delete(write.key)
                else:
                    pipe.set(write.key, write.value, ex=write.ttl)
            await pipe.execute()


async def dead_letter(runtime: Runtime, raw: dict[str, Any], error: str) -> dict[str, Any]:
    try:
        kept = await deadletter.push(runtime.redis, runtime.bot.id, raw, error)
    except RedisError as failure:
        raise unavailable(failure) from None
    if not kept:
        count(Metric.DUPLICATES)
        logger.info("dead letter delivered again; kept once already")
        return {"ok": True, "dead_letter": True}
    count(Metric.DEAD_LETTERS)
    logger.error(
        "update cannot be processed; kept as a dead letter",
        extra={"update_id": raw["update_id"], "reason": error, "alert": "dead_letter"},
    )
    return {"ok": True, "dead_letter": True}


async def _send(bot: Bot, method: TelegramMethod[Any]) -> None:
    """Send a reply that cannot ride in the webhook response (an upload); a refusal is logged."""
    try:
        await bot(method)
    except RETRYABLE_BOT_API_ERRORS:
        raise
    except TelegramAPIError as error:
        logger.error("Telegram refused the handler's reply", extra={"error": str(error)})


def unavailable(error: RedisError) -> StorageUnavailable:
    count(Metric.REDIS_ERRORS)
    return StorageUnavailable(
        f"Redis is unavailable ({type(error).__name__}: {error}); retry later"
    )
