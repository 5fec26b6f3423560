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
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import TelegramMethod
from aiogram.types import Message, TelegramObject, Update
from redis.asyncio import Redis

from lambdagram import budget
from lambdagram.delivery import PREFIX
from lambdagram.names import BROADCASTS_KEY
from lambdagram.observability import Metric, count, logger
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
    state: str  # ready, running, done, cancelled
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


class Store:
    """A bot's broadcasts in Redis. Each one's keys share a slot (``{<bot>:bc:<id>}``)."""

    def __init__(self, redis: Redis, bot_id: int) -> None:
        self.redis = redis
        self.bot_id = bot_id
        self.unreachable = f"{PREFIX}:{{{bot_id}}}:unreachable"
        self.index = f"{PREFIX}:{{{bot_id}}}:broadcasts"

    def _key(self, broadcast: str, part: str) -> str:
        return f"{PREFIX}:{{{self.bot_id}:bc:{broadcast}}}:{part}"

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
        await self.redis.zadd(self.index, {broadcast: now})
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
        if progress.state in {"ready", "running"}:
            await self.redis.hset(self._key(broadcast, "meta"), "state", "cancelled")
        return await self.progress(broadcast)

    async def resend_unconfirmed(self, broadcast: str) -> int:
        """Forget the unconfirmed recipients' marks so the next round sends to them again (the
        owner's choice: some may get the message twice); how many. Only once it ended."""
        progress = await self.progress(broadcast)
        if progress.state not in {"done", "cancelled"}:
            msg = f"{broadcast} is {progress.state}: resend its unconfirmed once it has ended"
            raise BroadcastError(msg)
        marks = self._key(broadcast, "marks")
        raw = await self.redis.hgetall(marks)
        unsure = [_text(chat) for chat, mark in raw.items() if _unsure(_text(mark))]
        if unsure:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hdel(marks, *unsure)
                pipe.hset(self._key(broadcast, "meta"), mapping={"state": "ready", "cursor": 0})
                pipe.hset(self._key(broadcast, "meta"), "n_unconfirmed", 0)
                await pipe.execute()
        return len(unsure)

    async def recent(self, most: int = 20) -> list[str]:
        """The newest broadcasts' ids, newest first."""
        ids = await self.redis.zrevrange(self.index, 0, most - 1)
        return [_text(i) for i in ids if isinstance(i, bytes | str)]

    async def unreachable_of(self, chats: list[int]) -> list[bool]:
        if not chats:
            return []
        return [bool(x) for x in await self.redis.smismember(self.unreachable, chats)]

    async def recipients(self, broadcast: str, start: int, most: int) -> list[int]:
        raw = await self.redis.lrange(self._key(broadcast, "to"), start, start + most - 1)
        return [int(x) for x in raw]

    async def marked(self, broadcast: str, chats: list[int]) -> list[bool]:
        """Which of ``chats`` an earlier round (or an earlier place in the list) had."""
        if not chats:
            return []
        marks = await self.redis.hmget(self._key(broadcast, "marks"), [str(c) for c in chats])
        return [mark is not None for mark in marks]

    async def mark(self, broadcast: str, chat: int) -> bool:
        """Mark ``chat`` as being sent to; False if it was marked before (never send twice)."""
        return bool(await self.redis.hsetnx(self._key(broadcast, "marks"), str(chat), "i"))

    async def record(self, broadcast: str, chat: int, kind: str, reason: str = "") -> None:
        """``chat``'s outcome: its mark and its count, in one transaction (same slot)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._key(broadcast, "marks"), str(chat), f"{kind}:{reason}"[:100])
            pipe.hincrby(self._key(broadcast, "meta"), f"n_{kind}", 1)
            await pipe.execute()

    async def set(self, broadcast: str, **fields: str | float) -> None:
        """Set fields of the broadcast's meta hash, in one round trip."""
        meta = self._key(broadcast, "meta")  # redis-py types the mapping invariantly: ignore
        await self.redis.hset(meta, mapping=dict(fields))  # type: ignore[arg-type]


_KINDS = ("sent", "failed", "skipped", "unconfirmed")  # a recipient's outcomes


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
        if isinstance(chat, bool) or not isinstance(chat, int) or chat == 0:
            msg = f"{chat!r} is not a chat id (a nonzero integer)"
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


async def run(runtime: Runtime, message: dict[str, Any]) -> bool:
    """One round of a broadcast on the worker; False if the queue must deliver it again."""
    broadcast, round_ = str(message.get("id")), int(message.get("round") or 0)
    store = Store(runtime.redis, runtime.bot.id)
    logger.append_keys(broadcast=broadcast)
    meta = await store.meta(broadcast)
    if "state" not in meta:
        count(Metric.INTERNAL_ERRORS)
        logger.error("queue message names no broadcast: dropped", extra={"round": round_})
        return True
    if meta["state"] in {"done", "cancelled"}:
        logger.info(f"broadcast {meta['state']} already; round {round_} has nothing to do")
        return True
    if meta["state"] == "ready":
        await store.set(broadcast, state="running", started=time.time())
    spec = json.loads(meta["spec"])
    rate = SendRate(runtime.redis, runtime.bot.id, runtime.settings.broadcast_rate)
    sender = Sender(runtime.bot, store, broadcast, spec, rate)
    total, cursor = int(meta["total"]), int(meta.get("cursor", 0))
    while cursor < total:
        left = budget.left()
        if left is not None and left < RESERVE:
            assert runtime.queue is not None
            await enqueue(runtime.queue, broadcast, round_ + 1)
            fields = await _fields(store, broadcast)
            logger.info("broadcast goes on in the next round", extra=fields)
            return True
        if (await store.meta(broadcast)).get("state") == "cancelled":
            logger.info("broadcast cancelled", extra=await _fields(store, broadcast))
            return True
        chats = await store.recipients(broadcast, cursor, SLICE)
        await sender.send_all(chats, await store.unreachable_of(chats))
        cursor += len(chats) or SLICE
        await store.set(broadcast, cursor=cursor)
        logger.info("broadcast progress", extra=await _fields(store, broadcast))
    await store.set(broadcast, state="done", finished=time.time())
    logger.info("broadcast finished", extra=await _fields(store, broadcast))
    return True


async def _fields(store: Store, broadcast: str) -> dict[str, Any]:
    """The broadcast's progress as log fields (all but its id and creation time)."""
    progress = dataclasses.asdict(await store.progress(broadcast))
    return {k: v for k, v in progress.items() if k not in {"id", "created_at"}}


class Sender:
    """Sends one broadcast's message to chats, ``IN_FLIGHT`` at a time, at the shared rate."""

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

    async def send_all(self, chats: list[int], unreachable: list[bool]) -> None:
        """Send to ``chats`` (those ``unreachable`` skipped), passing over the ones an earlier
        round had (a resumed round must not spend the rate on them)."""
        pending: asyncio.Queue[tuple[int, bool]] = asyncio.Queue()
        had = await self.store.marked(self.broadcast, chats)
        for chat, gone, earlier in zip(chats, unreachable, had, strict=True):
            if not earlier:
                pending.put_nowait((chat, gone))

        async def work() -> None:
            while not pending.empty():
                chat, gone = pending.get_nowait()
                await self.send_one(chat, gone)

        async with asyncio.TaskGroup() as group:
            for _ in range(min(IN_FLIGHT, pending.qsize())):
                group.create_task(work())

    async def send_one(self, chat: int, gone: bool) -> None:
        """One recipient: its slot of the rate, then its mark (so a worker killed while it
        waits leaves nothing unconfirmed), the send, its outcome."""
        if gone:
            if await self.store.mark(self.broadcast, chat):
                await self.store.record(self.broadcast, chat, "skipped", "unreachable")
            return
        await asyncio.sleep(await self.rate.reserve())
        if not await self.store.mark(self.broadcast, chat):
            return  # another round had it meanwhile
        kind, reason = await self._deliver(chat)
        await self.store.record(self.broadcast, chat, kind, reason)
        count(Metric.BROADCAST_SENT if kind == "sent" else Metric.BROADCAST_FAILED)
        if reason in {"403", "gone"}:
            await self.store.redis.sadd(self.store.unreachable, chat)

    async def _deliver(self, chat: int) -> tuple[str, str]:
        floods = server_errors = 0
        while True:
            try:
                await self.bot(self.method(chat_id=chat, **self.params))
            except AcceptedButUnreadable:
                return "sent", "unreadable answer"
            except TelegramRetryAfter as error:
                floods += 1
                await self.rate.pause(error.retry_after)  # every worker waits, as Telegram asks
                if floods >= FLOOD_RETRIES:
                    return "failed", "429"
                await asyncio.sleep(await self.rate.reserve())
            except TelegramMigrateToChat as error:
                return "failed", f"migrated to {error.migrate_to_chat_id}"
            except TelegramForbiddenError:
                return "failed", "403"
            except TelegramBadRequest as error:
                gone = any(word in error.message.lower() for word in _GONE)
                return "failed", "gone" if gone else f"400 {error.message}"[:80]
            except TelegramServerError as error:
                if server_errors >= len(SERVER_RETRIES):
                    return "failed", f"5xx {error.message}"[:80]
                await asyncio.sleep(SERVER_RETRIES[server_errors])
                server_errors += 1
                await asyncio.sleep(await self.rate.reserve())
            except TelegramNetworkError:  # it may have left: never sent again
                return "unconfirmed", "no answer"
            else:
                return "sent", ""


def _unsure(mark: str) -> bool:
    """A mark whose send may or may not have reached Telegram."""
    return mark == "i" or mark.startswith("unconfirmed")


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
