"""Broadcasts: one message to many chats, at Telegram's pace, exactly once per recipient.

A loop of ``send_message`` in a handler dies at the function's timeout halfway through, and
Telegram answers 429 beyond about 30 messages a second. Here a handler (or the CLI, or an
internal event) *starts* a broadcast: its recipients are written to Redis and one message goes
on the long-work queue; the worker sends, paced by the bot's shared `SendRate`, and before its
own timeout puts the next round on the queue, so a broadcast of any size runs to the end::

    @router.message(Command("announce"), F.from_user.id == ADMIN_ID, F.reply_to_message)
    async def announce(message: Message, broadcasts: Broadcasts) -> None:
        started = await broadcasts.start(await subscribers(), copy_of=message.reply_to_message)
        await message.answer(f"Broadcast {started} started")

    def configure(dp: Dispatcher) -> None:
        dp.include_router(router)
        setup_broadcasts(dp)

Each recipient is marked in Redis *before* its send and given its outcome after it (sent,
failed with Telegram's reason, skipped as unreachable), so a worker killed, a round delivered
twice, a chat listed twice: none sends a message twice. A worker killed *during* a send
leaves that recipient "unconfirmed": Telegram has no idempotent send, so whether the message
left cannot be known; it is reported, never sent again (`Progress.unconfirmed`). Recipients
that blocked the bot (403) or are gone (chat not found, user deactivated) are remembered
per bot and skipped by every later broadcast.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import json
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiogram import BaseMiddleware, Bot, Dispatcher, methods
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramBadRequest,
    TelegramConflictError,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import TelegramMethod
from aiogram.types import Message, TelegramObject, Update
from redis.asyncio import Redis

from lambdagram import budget, failures
from lambdagram.delivery import PREFIX
from lambdagram.names import BROADCASTS_KEY
from lambdagram.observability import Metric, count, logger
from lambdagram.redaction import redact
from lambdagram.reply import webhook_reply
from lambdagram.scoped import bound
from lambdagram.send_rate import SendRate
from lambdagram.session import AcceptedButUnreadable

if TYPE_CHECKING:
    from lambdagram.runtime import Runtime
    from lambdagram.sqs import Queue

SENDERS = {
    name[0].lower() + name[1:]: name
    for name in (
        "SendMessage",
        "CopyMessage",
        "ForwardMessage",
        "SendPhoto",
        "SendVideo",
        "SendAnimation",
        "SendDocument",
        "SendAudio",
        "SendVoice",
        "SendVideoNote",
        "SendSticker",
        "SendPoll",
        "SendLocation",
        "SendContact",
    )
}
"""The Bot API methods a broadcast can send (one message each, to one chat), by name: their
classes are imported when a broadcast uses one (`sender`), not with every cold start."""

IN_FLIGHT = 8  # sends one worker keeps going at once (each waits for its slot of the rate)
SLICE = 200  # recipients read, skipped-checked and counted at a time
RESERVE = 15.0  # seconds of the worker's budget kept for the last sends and the next round
SERVER_RETRIES = (1.0, 2.0, 4.0)  # pauses after a Telegram 5xx before the recipient fails
FLOOD_RETRIES = 10  # 429s one recipient may meet before it is counted failed
LARGEST_CHAT_ID = 2**52  # Telegram's ids fit 52 bits (a double holds them exactly)
KEEP = 30 * 24 * 3600  # seconds a broadcast's keys live after their last change
REMEMBER_UNREACHABLE = 30 * 24 * 3600  # seconds a chat that blocked the bot is skipped
_GONE = ("chat not found", "user is deactivated", "peer_id_invalid", "bot was kicked")


def sender(api_method: str) -> type[TelegramMethod[Any]]:
    """The class of a method `SENDERS` names (KeyError for one it does not)."""
    cls: type[TelegramMethod[Any]] = getattr(methods, SENDERS[api_method])
    return cls


class BroadcastError(ValueError):
    """A broadcast that cannot be started or found; the message says what to change."""


class BroadcastsUnavailable(RuntimeError):
    """No queue where the handler runs: broadcasts need the worker."""


@dataclass(frozen=True, slots=True)
class Progress:
    """Where a broadcast is: its state and how many recipients ended which way."""

    id: str
    state: str  # ready, running, done, cancelled; resending (its unconfirmed, then as it was);
    # stopped (its round given up by the queue: resend its unconfirmed, the left stay unsent)
    total: int
    sent: int
    failed: int
    skipped: int
    unconfirmed: int
    left: int
    created_at: float

    def line(self) -> str:
        """One line for people: ``b1 running: 120 sent, 2 failed, ... of 1000``."""
        return (
            f"{self.id} {self.state}: {self.sent} sent, {self.failed} failed, "
            f"{self.skipped} skipped, {self.unconfirmed} unconfirmed, {self.left} left "
            f"of {self.total}"
        )


_KINDS = ("sent", "failed", "skipped", "unconfirmed")  # a recipient's outcomes
_PARTS = ("meta", "to", "marks", "again")  # a broadcast's keys; "again": a resend's recipients

_MARK = """
local mark = redis.call('HGET', KEYS[1], ARGV[1])
if not mark then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) return 1 end
if mark == ARGV[2] then return 1 end
return 0
"""
"""Mark a recipient as being sent to by one run; 1 for that run's own mark too (its retry)."""

_RECORD = """
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('HINCRBY', KEYS[2], ARGV[4], 1)
return 1
"""
"""A recipient's outcome and its count, only while the mark is the run's (so once)."""

_SKIP = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[2], 'n_skipped', 1)
return 1
"""

_UNMARK = """
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
return 1
"""

_RESEND = """
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= 'done' and state ~= 'cancelled' and state ~= 'stopped' then return -1 end
redis.call('DEL', KEYS[4])
local again, counted = 0, 0
for i = 2, #ARGV do
  local mark = redis.call('HGET', KEYS[3], ARGV[i])
  if mark and (mark == 'i' or string.sub(mark, 1, 2) == 'i:'
      or string.sub(mark, 1, 12) == 'unconfirmed:') then
    if string.sub(mark, 1, 12) == 'unconfirmed:' then counted = counted + 1 end
    redis.call('HDEL', KEYS[3], ARGV[i])
    redis.call('RPUSH', KEYS[4], ARGV[i])
    again = again + 1
  end
end
if again == 0 then return 0 end
if counted > 0 then redis.call('HINCRBY', KEYS[1], 'n_unconfirmed', 0 - counted) end
redis.call('HSET', KEYS[1], 'state', 'resending', 'ended', state, 'again_cursor', 0)
for i = 1, #KEYS do redis.call('EXPIRE', KEYS[i], ARGV[1]) end
return again
"""
"""Put the unconfirmed recipients (those still so) on the ``again`` list, unmarked, and the
broadcast in state ``resending``: its rounds go through that list only, then back to the state
it had ended in (a cancelled broadcast's spared recipients stay spared)."""


class Store:
    """A bot's broadcasts in Redis. Each one's keys share a slot (``{<bot>:bc:<id>}``) and
    live `KEEP` seconds after their last change.

    A recipient's mark is ``i:<run>`` while a worker's run sends to it, then its outcome
    (``sent:``, ``failed:<reason>``, ``skipped:unreachable``, ``unconfirmed:<reason>``). The
    marks and outcomes are Lua scripts that recognise their own earlier run, as the claim and
    commit do: a command Redis ran after the client gave up on it (a stall longer than
    ``REDIS_TIMEOUT``) and ran again by the client's retry neither loses the recipient nor
    counts it twice."""

    def __init__(self, redis: Redis, bot_id: int) -> None:
        self.redis = redis
        self.bot_id = bot_id
        self.unreachable = f"{PREFIX}:{{{bot_id}}}:unreachable-at"
        self.index = f"{PREFIX}:{{{bot_id}}}:broadcasts"
        self._mark = redis.register_script(_MARK)
        self._record = redis.register_script(_RECORD)
        self._skip = redis.register_script(_SKIP)
        self._unmark = redis.register_script(_UNMARK)
        self._resend = redis.register_script(_RESEND)

    def _key(self, broadcast: str, part: str) -> str:
        return f"{PREFIX}:{{{self.bot_id}:bc:{broadcast}}}:{part}"

    def _keys(self, broadcast: str) -> list[str]:
        return [self._key(broadcast, part) for part in _PARTS]

    async def create(self, broadcast: str, spec: dict[str, Any], recipients: list[int]) -> bool:
        """Write the broadcast; False if it exists already (a retried update or call)."""
        meta = self._key(broadcast, "meta")
        if await self.redis.hget(meta, "state") is not None:
            return False
        to = self._key(broadcast, "to")
        await self.redis.delete(to, self._key(broadcast, "marks"))  # a half-written earlier try
        for start in range(0, len(recipients), 1000):
            await self.redis.rpush(to, *recipients[start : start + 1000])
        now = time.time()
        await self.redis.hset(
            meta,
            mapping={"spec": json.dumps(spec), "total": len(recipients), "created": now},
        )
        await self.redis.hsetnx(meta, "state", "ready")  # last: the broadcast is whole
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in self._keys(broadcast):
                pipe.expire(key, KEEP)
            pipe.zadd(self.index, {broadcast: now})
            pipe.zremrangebyscore(self.index, "-inf", now - KEEP)  # their keys are gone
            pipe.expire(self.index, KEEP)
            await pipe.execute()
        return True

    async def meta(self, broadcast: str) -> dict[str, str]:
        raw = await self.redis.hgetall(self._key(broadcast, "meta"))
        return {_text(k): _text(v) for k, v in raw.items()}

    async def progress(self, broadcast: str) -> Progress:
        """The broadcast's progress; `BroadcastError` if there is none by that id."""
        meta = await self.meta(broadcast)
        if "state" not in meta:
            msg = f"no broadcast {broadcast!r} (python -m lambdagram broadcast status lists them)"
            raise BroadcastError(msg)
        marked = int(await self.redis.hlen(self._key(broadcast, "marks")))
        counts = {kind: int(meta.get(f"n_{kind}", 0)) for kind in _KINDS}
        ended = sum(counts.values())
        total = int(meta["total"])
        return Progress(
            id=broadcast,
            state=meta["state"],
            total=total,
            sent=counts["sent"],
            failed=counts["failed"],
            skipped=counts["skipped"],
            unconfirmed=counts["unconfirmed"] + max(0, marked - ended),
            left=max(0, total - marked),
            created_at=float(meta.get("created", 0)),
        )

    async def cancel(self, broadcast: str) -> Progress:
        """Stop the broadcast before its next recipients (those sent stay sent)."""
        progress = await self.progress(broadcast)
        if progress.state in {"ready", "running", "resending"}:
            await self.set(broadcast, state="cancelled")
        return await self.progress(broadcast)

    async def resend_unconfirmed(self, broadcast: str) -> int:
        """Send once more to the unconfirmed recipients, and only to them (the owner's
        choice: some may get the message twice); how many. Only once it ended: a cancelled
        broadcast stays cancelled for the recipients it spared."""
        progress = await self.progress(broadcast)
        if progress.state not in {"done", "cancelled", "stopped"}:
            msg = f"{broadcast} is {progress.state}: resend its unconfirmed once it has ended"
            raise BroadcastError(msg)
        raw = await self.redis.hgetall(self._key(broadcast, "marks"))
        unsure = [_text(chat) for chat, mark in raw.items() if _unsure(_text(mark))]
        if not unsure:
            return 0
        again = await self._resend(keys=self._keys(broadcast), args=[KEEP, *unsure])
        if int(again) < 0:
            msg = f"{broadcast} is being resent already"
            raise BroadcastError(msg)
        return int(again)

    async def recent(self, most: int = 20) -> list[str]:
        """The newest broadcasts' ids, newest first."""
        ids = await self.redis.zrevrange(self.index, 0, most - 1)
        return [_text(i) for i in ids if isinstance(i, bytes | str)]

    async def unreachable_of(self, chats: list[int]) -> list[bool]:
        """Which of ``chats`` a broadcast found unreachable within `REMEMBER_UNREACHABLE`."""
        if not chats:
            return []
        since = time.time() - REMEMBER_UNREACHABLE
        scores = await self.redis.zmscore(self.unreachable, [str(c) for c in chats])
        return [score is not None and float(score) > since for score in scores]

    async def remember_unreachable(self, chat: int) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zadd(self.unreachable, {str(chat): time.time()})
            pipe.expire(self.unreachable, REMEMBER_UNREACHABLE)
            await pipe.execute()

    async def recipients(self, broadcast: str, part: str, start: int, most: int) -> list[int]:
        raw = await self.redis.lrange(self._key(broadcast, part), start, start + most - 1)
        return [int(x) for x in raw]

    async def length(self, broadcast: str, part: str) -> int:
        return int(await self.redis.llen(self._key(broadcast, part)))

    async def marked(self, broadcast: str, chats: list[int]) -> list[bool]:
        """Which of ``chats`` an earlier round (or an earlier place in the list) had."""
        if not chats:
            return []
        marks = await self.redis.hmget(self._key(broadcast, "marks"), [str(c) for c in chats])
        return [mark is not None for mark in marks]

    async def mark(self, broadcast: str, chat: int, run: str) -> bool:
        """Mark ``chat`` as being sent to by ``run``; False if another run (or an earlier
        place in the list) had it: never send twice. True again for ``run``'s own mark."""
        keys = [self._key(broadcast, "marks")]
        return bool(await self._mark(keys=keys, args=[str(chat), f"i:{run}"]))

    async def record(self, broadcast: str, chat: int, run: str, kind: str, reason: str) -> None:
        """``chat``'s outcome and its count, once: only while the mark is ``run``'s."""
        keys = [self._key(broadcast, "marks"), self._key(broadcast, "meta")]
        outcome = f"{kind}:{redact(reason)}"[:100]
        await self._record(keys=keys, args=[str(chat), f"i:{run}", outcome, f"n_{kind}"])

    async def skip(self, broadcast: str, chat: int) -> None:
        """``chat`` is unreachable: marked and counted skipped, once."""
        keys = [self._key(broadcast, "marks"), self._key(broadcast, "meta")]
        await self._skip(keys=keys, args=[str(chat), "skipped:unreachable"])

    async def unmark(self, broadcast: str, chat: int, run: str) -> None:
        """Drop ``run``'s mark on ``chat``: nothing reached Telegram, a later round sends."""
        keys = [self._key(broadcast, "marks")]
        await self._unmark(keys=keys, args=[str(chat), f"i:{run}"])

    async def set(self, broadcast: str, **fields: str | float) -> None:
        """Set fields of the broadcast's meta hash and keep its keys `KEEP` seconds more, in
        one round trip."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._key(broadcast, "meta"), mapping=dict(fields))  # type: ignore[arg-type]
            for key in self._keys(broadcast):
                pipe.expire(key, KEEP)
            await pipe.execute()


@dataclass(frozen=True, slots=True)
class Service:
    """What starting a broadcast needs: the bot, its Redis and the long-work queue."""

    bot: Bot
    store: Store
    queue: Queue | None


_service: ContextVar[Service | None] = ContextVar("lambdagram_broadcasts", default=None)


def serving(service: Service | None) -> contextlib.AbstractContextManager[Service | None]:
    """Broadcasts started while the body runs use ``service`` (the engine sets it)."""
    return bound(_service, service)


def service_of(runtime: Runtime) -> Service:
    return Service(runtime.bot, Store(runtime.redis, runtime.bot.id), runtime.queue)


class Broadcasts:
    """A handler's broadcasts; injected as ``broadcasts`` once `setup_broadcasts` ran."""

    def __init__(self, service: Service | None, origin: str) -> None:
        self._service = service
        self._origin = origin
        self._made = 0

    async def start(
        self,
        to: Iterable[int],
        *,
        text: str | None = None,
        copy_of: Message | None = None,
        method: TelegramMethod[Any] | None = None,
        **options: Any,
    ) -> str:
        """Send one message to every chat id in ``to`` (in order; each once): ``text`` (with
        ``send_message``'s ``options``), a copy of the message ``copy_of``, or ``method``
        (a ``SendPhoto(chat_id=0, photo=file_id, ...)``: its ``chat_id`` is replaced).
        Returns the broadcast's id; the worker sends. Started again with the same update
        (a retry), it is the same broadcast, not a second one."""
        service = self._need()
        if service.queue is None:
            msg = (
                "broadcasts run on the long-work worker: deploy with longWork=on (make deploy "
                "turns it on for a bot that calls setup_broadcasts) or set LONG_WORK_QUEUE_URL"
            )
            raise BroadcastsUnavailable(msg)
        spec = spec_of(service.bot, text=text, copy_of=copy_of, method=method, **options)
        recipients = unique_chats(to)
        self._made += 1
        broadcast = f"{self._origin}-{self._made}"[:64]
        if await service.store.create(broadcast, spec, recipients):
            logger.info(
                "broadcast started",
                extra={"broadcast": broadcast, "recipients": len(recipients)},
            )
        await enqueue(service.queue, broadcast, 0)
        return broadcast

    async def status(self, broadcast: str) -> Progress:
        return await self._need().store.progress(broadcast)

    async def cancel(self, broadcast: str) -> Progress:
        return await self._need().store.cancel(broadcast)

    async def recent(self) -> list[Progress]:
        store = self._need().store
        return [await store.progress(b) for b in await store.recent()]

    def _need(self) -> Service:
        if self._service is None:
            msg = "broadcasts need the engine (lambdagram's webhook, worker or local tools)"
            raise BroadcastsUnavailable(msg)
        return self._service


def setup_broadcasts(dispatcher: Dispatcher) -> None:
    """Make ``broadcasts`` injectable in every handler (and the worker part of the deploy)."""
    dispatcher.workflow_data[BROADCASTS_KEY] = True
    dispatcher.update.outer_middleware.register(BroadcastsMiddleware())


class BroadcastsMiddleware(BaseMiddleware):
    """Injects ``broadcasts`` (named after this update, so a retry starts none twice)."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if isinstance(event, Update):
            data["broadcasts"] = Broadcasts(_service.get(), f"u{event.update_id}")
        return await handler(event, data)


def spec_of(
    bot: Bot,
    *,
    text: str | None = None,
    copy_of: Message | None = None,
    method: TelegramMethod[Any] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """The message to send, as the Bot API method and its parameters (no ``chat_id``)."""
    given = [x for x in (text, copy_of, method) if x is not None]
    if len(given) != 1:
        msg = "give exactly one of text=, copy_of= or method= (what every recipient gets)"
        raise BroadcastError(msg)
    if text is not None:
        method = methods.SendMessage(chat_id=0, text=text, **options)
    elif copy_of is not None:
        method = methods.CopyMessage(
            chat_id=0, from_chat_id=copy_of.chat.id, message_id=copy_of.message_id, **options
        )
    assert method is not None
    if method.__api_method__ not in SENDERS:
        known = ", ".join(sorted(SENDERS))
        msg = f"{method.__api_method__} is not a method a broadcast sends (those: {known})"
        raise BroadcastError(msg)
    body = webhook_reply(bot, method)
    if body is None:
        msg = (
            "a broadcast cannot upload a file to every chat: send it once, then broadcast its "
            "file_id (or copy_of= the message)"
        )
        raise BroadcastError(msg)
    body.pop("chat_id", None)
    return body


def unique_chats(to: Iterable[int]) -> list[int]:
    """The chat ids in order, each once; `BroadcastError` for one that is not a chat id."""
    chats: dict[int, None] = {}
    for chat in to:
        if (
            isinstance(chat, bool)
            or not isinstance(chat, int)
            or not 0 < abs(chat) <= LARGEST_CHAT_ID
        ):
            msg = f"{chat!r} is not a chat id (a nonzero integer of at most 52 bits)"
            raise BroadcastError(msg)
        chats[chat] = None
    if not chats:
        raise BroadcastError("a broadcast needs at least one recipient")
    return list(chats)


def new_id(prefix: str = "cli") -> str:
    """An id for a broadcast not started by an update (the CLI, an internal event)."""
    now = datetime.datetime.now(datetime.UTC)
    return f"{prefix}{now:%Y%m%d%H%M%S}-{secrets.token_hex(3)}"


def message_body(broadcast: str, round_: int) -> str:
    return json.dumps({"broadcast": {"id": broadcast, "round": round_}}, separators=(",", ":"))


async def enqueue(queue: Queue, broadcast: str, round_: int) -> None:
    """Put round ``round_`` of the broadcast on the queue (its own message group: one worker
    at a time runs it; the deduplication id makes a retried start one message)."""
    body = message_body(broadcast, round_)
    await queue.send(body, f"bc-{broadcast}", f"bc-{broadcast}-{round_}")


@dataclass(frozen=True, slots=True)
class ComeBack:
    """A round that stopped before its end with nothing lost: its queue message is to be
    delivered again ``after`` seconds from now (None: the worker's usual pause)."""

    reason: str
    after: float | None = None


async def run(runtime: Runtime, message: dict[str, Any]) -> ComeBack | None:
    """One round of a broadcast on the worker; `ComeBack` if the queue must deliver it again."""
    broadcast, round_ = str(message.get("id")), int(message.get("round") or 0)
    store = Store(runtime.redis, runtime.bot.id)
    logger.append_keys(broadcast=broadcast)
    meta = await store.meta(broadcast)
    if "state" not in meta:
        count(Metric.INTERNAL_ERRORS)
        logger.error("queue message names no broadcast: dropped", extra={"round": round_})
        return None
    if meta["state"] in {"done", "cancelled", "stopped"}:
        logger.info(f"broadcast {meta['state']} already; round {round_} has nothing to do")
        return None
    if meta["state"] == "ready":
        await store.set(broadcast, state="running", started=time.time())
    resending = meta["state"] == "resending"  # only the unconfirmed, in a list of their own
    part, at = ("again", "again_cursor") if resending else ("to", "cursor")
    spec = json.loads(meta["spec"])
    rate = SendRate(runtime.redis, runtime.bot.id, runtime.settings.broadcast_rate)
    sender = Sender(runtime.bot, store, broadcast, spec, rate)
    total = await store.length(broadcast, part) if resending else int(meta["total"])
    cursor = int(meta.get(at, 0))
    while cursor < total:
        left = budget.left()
        if left is not None and left < RESERVE:
            assert runtime.queue is not None
            await enqueue(runtime.queue, broadcast, round_ + 1)
            fields = await _fields(store, broadcast)
            logger.info("broadcast goes on in the next round", extra=fields)
            return None
        if (await store.meta(broadcast)).get("state") == "cancelled":
            logger.info("broadcast cancelled", extra=await _fields(store, broadcast))
            return None
        chats = await store.recipients(broadcast, part, cursor, SLICE)
        await sender.send_all(chats, await store.unreachable_of(chats))
        if sender.halted is not None:  # this slice again next time: its unsent are unmarked
            logger.warning(
                "broadcast round stopped: the queue delivers it again",
                extra={"reason": sender.halted.reason, **await _fields(store, broadcast)},
            )
            return sender.halted
        cursor += len(chats) or SLICE
        await store.set(broadcast, **{at: cursor})
        logger.info("broadcast progress", extra=await _fields(store, broadcast))
    ended = meta.get("ended", "done") if resending else "done"
    await store.set(broadcast, state=ended, finished=time.time())
    logger.info("broadcast finished", extra=await _fields(store, broadcast))
    return None


async def stopped(runtime: Runtime, message: dict[str, Any], reason: str) -> None:
    """A round the long-work queue gave up on: the broadcast is ``stopped`` (its unconfirmed
    may be resent, its left stay unsent), instead of ``running`` for ever."""
    broadcast = str(message.get("id"))
    store = Store(runtime.redis, runtime.bot.id)
    logger.append_keys(broadcast=broadcast)
    meta = await store.meta(broadcast)
    if meta.get("state") in {"ready", "running", "resending"}:
        await store.set(broadcast, state="stopped", reason=reason[:200], finished=time.time())
    logger.error(
        "broadcast round given up by the long-work queue: the broadcast is stopped",
        extra={"reason": reason, "alert": "dead_letter", **await _fields(store, broadcast)},
    )


async def _fields(store: Store, broadcast: str) -> dict[str, Any]:
    """The broadcast's progress as log fields (all but its id and creation time)."""
    progress = dataclasses.asdict(await store.progress(broadcast))
    return {k: v for k, v in progress.items() if k not in {"id", "created_at"}}


class Sender:
    """Sends one broadcast's message to chats, ``IN_FLIGHT`` at a time, at the shared rate.

    Each recipient's outcome follows `lambdagram.failures`' verdict on its send: sent; failed
    with Telegram's reason when refused for good (a 5xx or a proxy's page after
    `SERVER_RETRIES`, a 429 after `FLOOD_RETRIES`); unconfirmed when unanswered. A refusal of
    the whole bot (401, 404), or a wait for the rate longer than the worker has left, *halts*
    the round: the recipient is unmarked (nothing reached Telegram), no further one is
    started, and the round comes back (`halted`)."""

    def __init__(
        self, bot: Bot, store: Store, broadcast: str, spec: dict[str, Any], rate: SendRate
    ) -> None:
        self.bot = bot
        self.store = store
        self.broadcast = broadcast
        params = {k: v for k, v in spec.items() if k != "method"}
        self.method = sender(str(spec["method"]))
        self.params = params
        self.rate = rate
        self.run = secrets.token_hex(6)  # this run's marks: its own, recognised on a retry
        self.halted: ComeBack | None = None

    async def send_all(self, chats: list[int], unreachable: list[bool]) -> None:
        """Send to ``chats`` (those ``unreachable`` skipped), passing over the ones an earlier
        round had (a resumed round must not spend the rate on them)."""
        pending: asyncio.Queue[tuple[int, bool]] = asyncio.Queue()
        had = await self.store.marked(self.broadcast, chats)
        for chat, gone, earlier in zip(chats, unreachable, had, strict=True):
            if not earlier:
                pending.put_nowait((chat, gone))

        async def work() -> None:
            while not pending.empty() and self.halted is None:
                chat, gone = pending.get_nowait()
                await self.send_one(chat, gone)

        async with asyncio.TaskGroup() as group:
            for _ in range(min(IN_FLIGHT, pending.qsize())):
                group.create_task(work())

    async def send_one(self, chat: int, gone: bool) -> None:
        """One recipient: its slot of the rate, then its mark (so a worker killed while it
        waits leaves nothing unconfirmed), the send, its outcome."""
        if gone:
            await self.store.skip(self.broadcast, chat)
            return
        if not await self._slot():
            return
        if not await self.store.mark(self.broadcast, chat, self.run):
            return  # another round had it meanwhile
        kind, reason = await self._deliver(chat)
        if kind == "halt":  # nothing reached Telegram: the round's next try sends it
            await self.store.unmark(self.broadcast, chat, self.run)
            return
        await self.store.record(self.broadcast, chat, self.run, kind, reason)
        count(Metric.BROADCAST_SENT if kind == "sent" else Metric.BROADCAST_FAILED)
        if reason in {"403", "gone"}:
            await self.store.remember_unreachable(chat)

    async def _slot(self) -> bool:
        """Wait for this send's slot of the shared rate; False (the round halted) if it opens
        later than the worker can wait (a long ``retry_after``)."""
        wait = await self.rate.reserve()
        left = budget.left()
        # The reserve is for the sends under way and the next round: a slot that opens in its
        # last third (room for one send) or later is one this worker cannot use.
        if left is not None and wait > left - RESERVE / 3:
            self._halt(f"the bot's sends are paused {wait:.0f} s (Telegram's retry_after)", wait)
            return False
        await asyncio.sleep(wait)
        return True

    def _halt(self, reason: str, after: float | None = None) -> None:
        if self.halted is None:
            self.halted = ComeBack(reason, after)

    async def _deliver(self, chat: int) -> tuple[str, str]:
        """Send to ``chat``: ``sent``, ``failed``, ``unconfirmed`` or ``halt``, and why."""
        floods = server_errors = 0
        while True:
            try:
                await self.bot(self.method(chat_id=chat, **self.params))
            except AcceptedButUnreadable:
                return "sent", "unreadable answer"
            except Exception as error:  # classified: a bug of ours is unconfirmed, not lost
                verdict = failures.of_bot_api(error)
                if isinstance(error, TelegramRetryAfter):
                    floods += 1
                    await self.rate.pause(error.retry_after)  # every worker waits, as asked
                    if floods >= FLOOD_RETRIES:
                        return "failed", "429"
                elif verdict is failures.Verdict.RETRY:
                    if server_errors >= len(SERVER_RETRIES):
                        return "failed", _reason(error)
                    await asyncio.sleep(SERVER_RETRIES[server_errors])
                    server_errors += 1
                elif verdict is failures.Verdict.BOT_WIDE:
                    self._halt(f"the Bot API refused every send: {_reason(error)}")
                    return "halt", ""
                elif verdict is failures.Verdict.REFUSED:
                    return "failed", _refusal(error)
                else:  # unanswered (it may have left), or not the Bot API's: never sent again
                    if verdict is None:
                        logger.exception("broadcast send failed", extra={"chat_id": chat})
                    return "unconfirmed", "no answer" if verdict else type(error).__name__
                if not await self._slot():
                    return "halt", ""
            else:
                return "sent", ""


def _refusal(error: Exception) -> str:
    """A definitive refusal's reason as the marks keep it (``403``, ``gone``, ``400 ...``)."""
    if isinstance(error, TelegramMigrateToChat):
        return f"migrated to {error.migrate_to_chat_id}"
    if isinstance(error, TelegramForbiddenError):
        return "403"
    if isinstance(error, TelegramBadRequest):
        gone = any(word in error.message.lower() for word in _GONE)
        return "gone" if gone else _reason(error)
    return _reason(error)


def _reason(error: Exception) -> str:
    """``<status> <Telegram's description>`` (or the error's kind), short, secrets blanked."""
    status = {
        TelegramBadRequest: "400",
        TelegramUnauthorizedError: "401",
        TelegramNotFound: "404",
        TelegramConflictError: "409",
        TelegramEntityTooLarge: "413",
        TelegramServerError: "5xx",
        ClientDecodeError: "not the Bot API's answer",
    }
    kind = next((v for k, v in status.items() if isinstance(error, k)), type(error).__name__)
    message = getattr(error, "message", str(error))
    return f"{kind} {message}"[:80]  # redacted where it is kept (Store.record)


def _unsure(mark: str) -> bool:
    """A mark whose send may or may not have reached Telegram."""
    return mark == "i" or mark.startswith(("i:", "unconfirmed"))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def carry_out(runtime: Runtime, asked: Mapping[str, Any]) -> list[str]:
    """A request from the CLI or an internal event (``make broadcast``): ``action`` start
    (``recipients``, ``text`` or ``copy`` as ``chat:message``, ``parse_mode``), status (an
    ``id``, or the recent ones), cancel or resend-unconfirmed (an ``id``); the lines to show."""
    if not runtime.blueprint.broadcasts:
        msg = "this bot does not call setup_broadcasts(dp) in its configure()"
        raise BroadcastError(msg)
    service = service_of(runtime)
    action, broadcast = asked.get("action"), asked.get("id")
    if action == "start":
        options = {"parse_mode": asked["parse_mode"]} if asked.get("parse_mode") else {}
        chats = list(asked.get("recipients") or [])
        starting = Broadcasts(service, new_id())
        if asked.get("copy"):
            chat, _, message = str(asked["copy"]).partition(":")
            if not (chat.lstrip("-").isdigit() and message.isdigit()):
                msg = f"copy={asked['copy']!r}: give the message as CHAT_ID:MESSAGE_ID"
                raise BroadcastError(msg)
            copied = methods.CopyMessage(
                chat_id=0, from_chat_id=int(chat), message_id=int(message), **options
            )
            broadcast = await starting.start(chats, method=copied)
        else:
            broadcast = await starting.start(chats, text=asked.get("text"), **options)
        return [f"started {(await service.store.progress(broadcast)).line()}"]
    if action == "cancel" and broadcast:
        return [(await service.store.cancel(str(broadcast))).line()]
    if action == "resend-unconfirmed" and broadcast:
        again = await service.store.resend_unconfirmed(str(broadcast))
        if again and service.queue is not None:
            await enqueue(service.queue, str(broadcast), int(time.time()))  # a round of its own
        return [f"{again} unconfirmed recipient(s) to be sent again",
                (await service.store.progress(str(broadcast))).line()]  # fmt: skip
    if action == "status" and broadcast:
        return [(await service.store.progress(str(broadcast))).line()]
    if action == "status":
        ids = await service.store.recent()
        return [(await service.store.progress(b)).line() for b in ids] or ["No broadcasts."]
    msg = f"action={action!r}: start, status, cancel or resend-unconfirmed (those two with an id)"
    raise BroadcastError(msg)
