"""One update (or one whole album) through the engine: claim, handlers, commit, answer.

claim the chat (dedupe + lock + FSM read) -> run the handlers on a fresh Dispatcher with
buffered FSM writes (and the tasks they start) -> make the webhook reply -> commit atomically.
Errors that Telegram should retry surface as `WebhookError`s. `prepare` is what a process does
before its first update of any kind (the bot's startup hooks, the eviction check).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import time
import traceback
from collections.abc import Callable
from contextvars import ContextVar
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
from lambdagram.scoped import bound
from lambdagram.session import Sends, counting
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

OUT_OF_TIME_RUNS = 2
"""Runs of one update the deadline may cut off before it is given up (a dead letter, the bot
told): each is a whole function's time, and a handler that needs more will not get it."""


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
    queued_as: str | None = None,
) -> dict[str, Any]:
    """One update (or album) through claim, handlers and commit. ``raw``: the update as
    Telegram sent it (its long-work queue message); ``queued_as``: the queue message of work
    that is not one update (an album's closing); ``from_queue``: the worker runs it."""
    storage = BufferedStorage(create_storage(runtime.redis, runtime.settings))
    dispatcher = runtime.blueprint.dispatcher(storage)
    message: Callable[[], str] | None = None  # its queue message, made only if it is queued
    if queued_as is not None:
        message = functools.partial(str, queued_as)
    elif raw is not None and album is None:
        message = functools.partial(_queued_update, raw)
    deferring = runtime.queue is not None and runtime.blueprint.long_handlers and message
    mode = "work" if from_queue else "web" if deferring else ""
    try:
        return await _process(
            runtime,
            update,
            dispatcher,
            storage,
            max_wait,
            reply_in_webhook,
            album,
            message,
            mode,
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
    message: Callable[[], str] | None,
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
        assert message is not None
        return await enqueue(runtime, claim, message(), locked=False)
    except Duplicate:
        count(Metric.DUPLICATES)
        logger.info("duplicate update: already processed, nothing done")
        return {"ok": True, "duplicate": True}
    except Poisoned as poisoned:
        return await _given_up(runtime, dispatcher, update, claim, poisoned)
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
    sends = Sends()
    try:
        async with claim.renewing(), span("handlers"), asyncio.timeout(left):
            extra = {albums.ALBUM_DATA: album.messages} if album is not None else {}
            with (
                _long_work(mode) as run,
                UpdateStorage.serving(storage),
                _timers(runtime),
                broadcasting(runtime),
                counting(sends),
            ):
                async with background.noted() as tasks:
                    result = await dispatcher.feed_update(bot, update, bots=[bot], **extra)
                await background.settle(tasks, budget.left())  # under the lock, before commit
    except RedisError as error:
        await claim.abandon()
        raise unavailable(error) from None
    except TimeoutError as error:  # the budget's deadline: answer before Lambda stops it
        raise await out_of_time(claim, error, " on the worker" if mode == "work" else "") from None
    except RETRYABLE_BOT_API_ERRORS as error:
        # Telegram itself is unreachable, failing or throttling: a retry later can succeed,
        # so give the update back (its FSM changes dropped) instead of losing it; unless its
        # handlers sent messages already (a retry would send them twice): then it is theirs.
        return await bot_api_failed(runtime, claim, cleanup, sends, error, "during the handler")
    except ServiceError as error:
        raise await service_given_back(claim, error, "during the handler") from None
    except Exception:
        return await handler_failed(runtime, claim, cleanup, "handler failed")

    if run is not None and run.deferred:  # a long handler: the worker runs the update
        assert message is not None
        return await enqueue(runtime, claim, message(), locked=True)
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
            return await bot_api_failed(runtime, claim, cleanup, sends, error, "sending the reply")
        except Exception:
            return await handler_failed(runtime, claim, cleanup, "the reply cannot be sent")
    await commit(runtime, claim, [*storage.writes(), *cleanup])
    return reply or {}


async def bot_api_failed(
    runtime: Runtime,
    claim: Claim,
    cleanup: list[Write],
    sends: Sends,
    error: Exception,
    doing: str,
    what: str = "",
) -> dict[str, Any]:
    """A Bot API failure that can pass: the update (or job) is given back (raised) while its
    handlers sent nothing yet; after a message went out it is their failure (the answer),
    since running them again would send it twice."""
    if not sends.count:
        raise await given_back(claim, error, doing) from None
    count(Metric.BOT_API_ERRORS)
    why = (
        f"{what}the Bot API failed ({type(error).__name__}) after the handlers had sent "
        f"{sends.count} message(s): not run again (they would be sent twice)"
    )
    return await handler_failed(runtime, claim, cleanup, why)


def _queued_update(raw: dict[str, Any]) -> str:
    from lambdagram import long_work

    return long_work.message_body(raw)


async def enqueue(runtime: Runtime, claim: Claim, message: str, *, locked: bool) -> dict[str, Any]:
    """Put the claimed work (an update, a timer's job: ``message``) on the long-work queue,
    in its chat's message group, then mark it queued (in that order: a mark without a message
    would lose it). ``locked``: the claim holds the chat's lock (its handler was flagged
    long), else the chat already had queued work and this joins it without the lock."""
    assert runtime.queue is not None
    from lambdagram.sqs import QueueError

    chat = claim.fsm_keys is not None
    group = claim.slot if chat else f"{claim.slot}:{claim.update_id}"  # no chat: no order
    try:
        async with span("sqs.send"):
            await runtime.queue.send(message, group, _dedupe_id(runtime.bot.id, claim.update_id))
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


_replay: ContextVar[str] = ContextVar("lambdagram_replay", default="")


def replaying() -> contextlib.AbstractContextManager[str]:
    """Dead letters replayed in this context go on the queue as new messages: SQS would drop
    a message whose deduplication id it saw in the last 5 minutes (the original's)."""
    return bound(_replay, f"-r{time.time_ns()}")


def _dedupe_id(bot_id: int, claim_id: int | str) -> str:
    """The queue's deduplication id of a claimed update or job (at most SQS's 128 characters:
    a long job id is hashed)."""
    plain = f"{bot_id}-{claim_id}{_replay.get()}"
    return plain if len(plain) <= 128 else f"{bot_id}-{hashlib.sha256(plain.encode()).hexdigest()}"


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


async def out_of_time(claim: Claim, error: TimeoutError, where: str, fix: str = "") -> OutOfTime:
    """The update's handlers ran into the deadline: given back, its run counted (from the
    `OUT_OF_TIME_RUNS`-th on, its next delivery makes it a dead letter); the error to raise,
    naming the handler that was running and the fix."""
    count(Metric.HANDLER_TIMEOUTS)
    runs = 0
    with contextlib.suppress(RedisError):
        runs = await claim.ran_out_of_time(OUT_OF_TIME_RUNS)
    await claim.abandon()
    handler = running_handler(error)
    fix = fix or (
        "make it shorter or raise workerTimeout"
        if where
        else "flag it long (flags={'long': True}) to run it on the worker"
    )
    last = (
        " (its last: the next delivery makes it a dead letter)" if runs >= OUT_OF_TIME_RUNS else ""
    )
    return OutOfTime(
        f"{handler or 'the handlers'} did not finish before the function's timeout{where}, "
        f"run {runs} of {OUT_OF_TIME_RUNS}{last}; nothing was saved; {fix}"
    )


def running_handler(error: BaseException) -> str | None:
    """The bot's function that was running when ``error`` (the deadline's timeout) cut it off:
    the innermost frame of the cancelled task that is neither aiogram's, asyncio's nor ours."""
    cancelled = error.__context__
    frames = traceback.walk_tb(cancelled.__traceback__) if cancelled is not None else ()
    found = None
    for frame, _ in frames:
        module = str(frame.f_globals.get("__name__", ""))
        if module.split(".")[0] not in _ENGINE_PARTS:
            found = f"{module}.{frame.f_code.co_qualname}"
    return found


_ENGINE_PARTS = {"aiogram", "lambdagram", "asyncio", "contextlib", "aiohttp", "redis"}


async def _given_up(
    runtime: Runtime, dispatcher: Dispatcher, update: Update, claim: Claim, poisoned: Poisoned
) -> dict[str, Any]:
    """An update given back too often (or cut off by the deadline `OUT_OF_TIME_RUNS` times):
    kept as a dead letter, and the bot's error handlers told (`UpdateGivenUp`), once."""
    cut_off = 0
    with contextlib.suppress(RedisError):
        cut_off = await claim.runs_out_of_time(runtime.redis)
    if cut_off >= OUT_OF_TIME_RUNS:
        reason = (
            f"ran out of the function's time {cut_off} times: given up (flag the handler long, "
            "make it shorter, or raise the timeout)"
        )
    else:
        reason = (
            f"given back {poisoned.attempts} times without completing (handler timeouts, "
            "lost locks, Redis or Bot API failures): given up"
        )
    raw = update.model_dump(mode="json", exclude_none=True)
    if await keep_dead_letter(runtime, raw, reason):
        await _tell_the_bot(runtime, dispatcher, update, reason)
    return {"ok": True, "dead_letter": True}


async def tell_the_bot(runtime: Runtime, raw: dict[str, Any], reason: str) -> None:
    """`_tell_the_bot` for an update given up outside a dispatch (the queue's DLQ)."""
    from lambdagram.parsing import Unprocessable, to_update

    try:
        update = to_update(raw, runtime.bot)
    except Unprocessable:
        return
    dispatcher = runtime.blueprint.dispatcher(
        BufferedStorage(create_storage(runtime.redis, runtime.settings))
    )
    try:
        await _tell_the_bot(runtime, dispatcher, update, reason)
    finally:
        discard(dispatcher)


async def _tell_the_bot(
    runtime: Runtime, dispatcher: Dispatcher, update: Update, reason: str
) -> None:
    """Hand ``UpdateGivenUp`` to the bot's error handlers (``@router.errors()``), as aiogram
    hands them a handler's exception, so the bot can tell the user; its failure is logged."""
    from aiogram.types.error_event import ErrorEvent

    from lambdagram.failures import UpdateGivenUp

    left = budget.left()
    event = ErrorEvent(update=update, exception=UpdateGivenUp(reason))
    try:
        async with asyncio.timeout(left):
            await dispatcher.propagate_event(
                "error", event, bot=runtime.bot, event_update=update, **dispatcher.workflow_data
            )
    except Exception:
        logger.exception("the bot's error handler failed on a given-up update")


async def dead_letter(runtime: Runtime, raw: dict[str, Any], error: str) -> dict[str, Any]:
    """Keep ``raw`` as a dead letter; the answer."""
    await keep_dead_letter(runtime, raw, error)
    return {"ok": True, "dead_letter": True}


async def keep_dead_letter(runtime: Runtime, raw: dict[str, Any], error: str) -> bool:
    """Keep ``raw`` as a dead letter; False if it was kept already (a redelivery)."""
    try:
        kept = await deadletter.push(runtime.redis, runtime.bot.id, raw, error)
    except RedisError as failure:
        raise unavailable(failure) from None
    if not kept:
        count(Metric.DUPLICATES)
        logger.info("dead letter delivered again; kept once already")
        return False
    count(Metric.DEAD_LETTERS)
    logger.error(
        "update cannot be processed; kept as a dead letter",
        extra={"update_id": raw["update_id"], "reason": error, "alert": "dead_letter"},
    )
    return True


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
