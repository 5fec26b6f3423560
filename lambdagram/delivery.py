"""Exactly-once, one-at-a-time delivery of updates to a chat, across Lambda instances.

Each update is *claimed* before its handler runs and *committed* after, each in one
atomic Lua script on the chat's cluster slot (``{<bot_id>:<chat_id>}``):

claim
    If the update id was seen, say so (``done``: processed; ``processing``: another
    invocation has it now). Otherwise take the chat's lock (``SET NX PX``), count the attempt,
    mark the id ``processing`` with the same short TTL, and return the chat's FSM state and
    data. An update claimed ``MAX_ATTEMPTS`` times without a commit is marked done and
    reported ``poison`` instead (as SQS moves a message to its DLQ after ``maxReceiveCount``),
    so no update can hold its chat for Telegram's 24 hours of retries.
    A held lock means "wait": the caller polls, bounded by ``LOCK_WAIT``, as one of at most
    ``CHAT_WAITERS`` waiters (a sorted set of tokens, each with the deadline of its wait: a
    live waiter is counted again at each poll, a waiter that died stops counting when its wait
    would have ended).
    The claim's own earlier run (its token on the mark) is recognised and answered the same.
renew
    While the handler runs, the lock and the mark are extended every third of their TTL,
    so a live holder keeps them and a dead one (killed, timed out) loses them within
    ``LOCK_TTL``.
commit
    If the lock and mark are still ours: apply the buffered FSM writes, mark the id
    ``done:<token>`` for 24 h (Telegram's retry window), forget the attempts, release the lock.
    All or nothing; a commit run again after its reply was lost finds its own mark: committed.
abandon
    On failure: drop our mark and lock, so Telegram's retry is processed afresh.

The long-work queue (`lambdagram.long_work`) adds a third mark, ``q:<token>``: the update is
on the chat's FIFO message group, and its id is in the chat's ``queued`` sorted set until the
worker commits it (or it is dead-lettered). On the webhook (``queue_mode`` "web") a claim
that finds the mark answers ``queued`` (a duplicate), and one that finds the chat's set not
empty answers ``enqueue`` without taking the lock: the update goes on the queue behind the
others (`join_queue`), so nothing overtakes them. A commit with ``queued`` marks the update
``q:`` instead of done and adds it to the set. On the worker (``queue_mode`` "work") a ``q:``
mark is claimed like an unseen update, and done, poison and the commit take the id off the set.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiogram.fsm.storage.base import StorageKey
from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import TimeoutError as RedisTimeoutError

from lambdagram.fsm import Write

DONE_TTL = 24 * 3600  # Telegram keeps retrying an update for up to 24 hours
PREFIX = "lg"

_CLAIM = """
local token, mode = ARGV[1], ARGV[8]
local locking = ARGV[3] == '1'
local function leave() redis.call('ZREM', KEYS[4], token) end
local function claimed()
  if not locking then return {'claimed', '', ''} end
  return {'claimed', redis.call('GET', KEYS[6]) or '', redis.call('GET', KEYS[7]) or ''}
end
local function dequeue() if mode == 'work' then redis.call('ZREM', KEYS[5], ARGV[9]) end end
local seen = redis.call('GET', KEYS[1])
if seen then
  local kind = string.sub(seen, 1, 2)
  if seen == 'p:' .. token then leave() return claimed() end
  if kind == 'p:' then leave() return {'processing'} end
  if kind ~= 'q:' then leave() dequeue() return {'done'} end
  if mode ~= 'work' then leave() return {'queued'} end
end
if locking and mode == 'web' then
  local now = redis.call('TIME')
  redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', tonumber(now[1]) * 1000)
  if redis.call('ZCARD', KEYS[5]) > 0 then leave() return {'enqueue'} end
end
if locking and not redis.call('SET', KEYS[2], token, 'NX', 'PX', ARGV[2]) then
  local now = redis.call('TIME')
  local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', ms)
  if not redis.call('ZSCORE', KEYS[4], token) then
    if redis.call('ZCARD', KEYS[4]) >= tonumber(ARGV[7]) then return {'crowded'} end
    redis.call('ZADD', KEYS[4], ms + tonumber(ARGV[6]), token)
    local last = redis.call('ZRANGE', KEYS[4], -1, -1, 'WITHSCORES')
    redis.call('PEXPIREAT', KEYS[4], last[2])
  end
  return {'locked', tostring(redis.call('PTTL', KEYS[2]))}
end
leave()
local attempt = redis.call('INCR', KEYS[3])
redis.call('EXPIRE', KEYS[3], ARGV[5])
if attempt > tonumber(ARGV[4]) then
  redis.call('SET', KEYS[1], 'done', 'EX', ARGV[5])
  redis.call('DEL', KEYS[3])
  if locking then redis.call('DEL', KEYS[2]) end
  dequeue()
  return {'poison', tostring(attempt - 1)}
end
redis.call('SET', KEYS[1], 'p:' .. token, 'PX', ARGV[2])
return claimed()
"""

_OWNED = """
local function owned()
  if redis.call('GET', KEYS[1]) ~= 'p:' .. ARGV[1] then return false end
  return ARGV[2] ~= '1' or redis.call('GET', KEYS[2]) == ARGV[1]
end
"""

_RENEW = (
    _OWNED
    + """
if not owned() then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
if ARGV[2] == '1' then redis.call('PEXPIRE', KEYS[2], ARGV[3]) end
return 1
"""
)

_COMMIT = (
    _OWNED
    + """
local mark = ARGV[4] .. ARGV[1]
if redis.call('GET', KEYS[1]) == mark then return 1 end
if not owned() then return 0 end
redis.call('DEL', KEYS[3])
local arg = 8
for i = 5, #KEYS do
  local value, ttl = ARGV[arg], tonumber(ARGV[arg + 1])
  arg = arg + 2
  if value == '' then redis.call('DEL', KEYS[i])
  elseif ttl > 0 then redis.call('SET', KEYS[i], value, 'EX', ttl)
  else redis.call('SET', KEYS[i], value) end
end
redis.call('SET', KEYS[1], mark, 'EX', ARGV[3])
if ARGV[5] == '+' then
  local now = redis.call('TIME')
  local until_ms = tonumber(now[1]) * 1000 + tonumber(ARGV[7])
  redis.call('ZADD', KEYS[4], until_ms, ARGV[6])
  redis.call('PEXPIREAT', KEYS[4], until_ms)
elseif ARGV[5] == '-' then
  redis.call('ZREM', KEYS[4], ARGV[6])
end
if ARGV[2] == '1' then redis.call('DEL', KEYS[2]) end
return 1
"""
)

_JOIN_QUEUE = """
local seen = redis.call('GET', KEYS[1])
if seen and string.sub(seen, 1, 2) ~= 'q:' then return 0 end
redis.call('SET', KEYS[1], 'q:' .. ARGV[1], 'EX', ARGV[2])
local now = redis.call('TIME')
local until_ms = tonumber(now[1]) * 1000 + tonumber(ARGV[4])
redis.call('ZADD', KEYS[2], until_ms, ARGV[3])
redis.call('PEXPIREAT', KEYS[2], until_ms)
return 1
"""

_DEQUEUE = """
redis.call('ZREM', KEYS[1], ARGV[1])
return 1
"""

_LEAVE = """
redis.call('ZREM', KEYS[1], ARGV[1])
return 1
"""

_ABANDON = """
if redis.call('GET', KEYS[1]) == 'p:' .. ARGV[1] then redis.call('DEL', KEYS[1]) end
if ARGV[2] == '1' and redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return 1
"""


_OUT_OF_TIME = """
local runs = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[1])
if runs >= tonumber(ARGV[2]) then redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[1]) end
return runs
"""
"""Count a run cut off by the deadline; at the limit, the attempts stand at the maximum, so
the update's next claim gives it up (``poison``) whatever its other attempts were."""


_FORGET = """
local mark = redis.call('GET', KEYS[1])
if mark and (mark == 'done' or string.sub(mark, 1, 2) == 'q:') then redis.call('DEL', KEYS[1]) end
redis.call('DEL', KEYS[2])
return 1
"""
"""Forget a given-up update's mark (``done`` as the poison claim leaves it, or ``q:``), not a
real commit's (``done:<token>``): a replay of its dead letter runs it, once."""


class Duplicate(Exception):
    """The update was processed already."""


class InFlight(Exception):
    """Another invocation is processing this update right now."""


class Poisoned(Exception):
    """The update was claimed ``attempts`` times and never committed: it is given up."""

    def __init__(self, attempts: int) -> None:
        super().__init__(f"claimed {attempts} times without being committed")
        self.attempts = attempts


class AlreadyQueued(Duplicate):
    """The update is on the long-work queue already (`lambdagram.long_work`)."""


class JoinQueue(Exception):
    """The chat has updates on the long-work queue: this one must go behind them."""


class ChatCrowded(Exception):
    """Too many invocations are already waiting for this chat: do not become one more."""


class ChatBusy(Exception):
    """The chat's lock was not free within the allowed wait."""

    def __init__(self, waited: float) -> None:
        super().__init__(f"the chat stayed locked for {waited:.1f} s")
        self.waited = waited


@dataclass
class Scripts:
    """The Lua scripts, registered on one client (EVALSHA, loaded on first NOSCRIPT)."""

    claim: AsyncScript
    renew: AsyncScript
    commit: AsyncScript
    abandon: AsyncScript
    leave: AsyncScript
    join_queue: AsyncScript
    dequeue: AsyncScript
    out_of_time: AsyncScript
    forget_given_up: AsyncScript

    @classmethod
    def register(cls, redis: Redis) -> Scripts:
        return cls(
            claim=redis.register_script(_CLAIM),
            renew=redis.register_script(_RENEW),
            commit=redis.register_script(_COMMIT),
            abandon=redis.register_script(_ABANDON),
            leave=redis.register_script(_LEAVE),
            join_queue=redis.register_script(_JOIN_QUEUE),
            dequeue=redis.register_script(_DEQUEUE),
            out_of_time=redis.register_script(_OUT_OF_TIME),
            forget_given_up=redis.register_script(_FORGET),
        )


@dataclass
class Claim:
    """One update's claim on its chat; see the module docstring for the protocol."""

    scripts: Scripts
    slot: str
    update_id: int | str  # an update's id, or ``album:<media_group_id>`` for a whole album
    fsm_keys: tuple[str, str] | None  # the chat context's (state, data) keys, if any
    ttl_ms: int
    max_attempts: int = 10
    max_waiters: int = 2
    queue_mode: str = ""  # "web": a chat's queued updates go first; "work": run from the queue
    token: str = field(default_factory=lambda: secrets.token_hex(8))
    state: bytes | None = None
    data: bytes | None = None
    waited: float = 0.0
    lost: bool = False
    last_tick: float = 0.0  # when the event loop last ran our renewal timer (or the claim)

    @property
    def dedupe_key(self) -> str:
        return dedupe_key(self.slot, self.update_id)

    @property
    def lock_key(self) -> str:
        return f"{PREFIX}:{self.slot}:lock"

    @property
    def waiters_key(self) -> str:
        return f"{PREFIX}:{self.slot}:waiters"

    @property
    def queued_key(self) -> str:
        return queued_key(self.slot)

    @property
    def attempts_key(self) -> str:
        return f"{PREFIX}:{self.slot}:attempts:{self.update_id}"

    @property
    def out_of_time_key(self) -> str:
        return out_of_time_key(self.slot, self.update_id)

    async def ran_out_of_time(self, limit: int) -> int:
        """Count a run of this update that the deadline cut off; how many so far. From the
        ``limit``-th on, its next claim gives it up (`Poisoned`): a handler slower than the
        function's time is not run again and again to ``max_attempts``."""
        keys = [self.out_of_time_key, self.attempts_key]
        args = [DONE_TTL, limit, self.max_attempts]
        return int(await self.scripts.out_of_time(keys=keys, args=args))

    async def runs_out_of_time(self, redis: Redis) -> int:
        """How many runs of this update the deadline cut off (read when it is given up)."""
        return int(await redis.get(self.out_of_time_key) or 0)

    @property
    def _locking(self) -> str:
        """'1' when the update belongs to a chat (and so takes its lock), else '0'."""
        return "0" if self.fsm_keys is None else "1"

    async def acquire(self, max_wait: float, patience: float = 0.0) -> None:
        """Claim the update, waiting up to ``max_wait`` s for the chat's lock (``patience``:
        see `_run`)."""
        keys = [
            self.dedupe_key,
            self.lock_key,
            self.attempts_key,
            self.waiters_key,
            self.queued_key,
            *(self.fsm_keys or ()),
        ]
        args: list[str | int] = [
            self.token,
            self.ttl_ms,
            self._locking,
            self.max_attempts,
            DONE_TTL,
            int(max_wait * 1000) + 1000,  # how long this one may count as a waiter
            self.max_waiters,
            self.queue_mode,
            str(self.update_id),
        ]
        started = time.monotonic()
        pause = 0.01
        locked_before = False
        while True:
            reply = await self._run(self.scripts.claim, keys, args, patience)
            verdict = _text(reply[0])
            if verdict == "crowded":
                raise ChatCrowded
            if verdict == "claimed":
                self.state, self.data = reply[1] or None, reply[2] or None
                self.waited = time.monotonic() - started if locked_before else 0.0
                self.last_tick = time.monotonic()
                return
            if verdict == "poison":
                raise Poisoned(int(reply[1]))
            if verdict == "done":
                raise Duplicate
            if verdict == "queued":
                raise AlreadyQueued
            if verdict == "enqueue":
                raise JoinQueue
            if verdict == "processing":
                raise InFlight
            locked_before = True
            left = max_wait - (time.monotonic() - started)
            if left <= 0:
                with contextlib.suppress(Exception):  # no longer waiting (it expires anyway)
                    await self.scripts.leave(keys=[self.waiters_key], args=[self.token])
                raise ChatBusy(time.monotonic() - started)
            holder_left = int(reply[1]) / 1000 if int(reply[1]) > 0 else pause
            await asyncio.sleep(max(0.005, min(pause, holder_left, left)))
            pause = min(pause * 2, 0.2)

    def renewing(self) -> Renewing:
        """Keep the lock and mark alive while the body runs (``async with``)."""
        return Renewing(self)

    async def _renew(self) -> None:
        try:
            renewed = await self.scripts.renew(
                keys=[self.dedupe_key, self.lock_key],
                args=[self.token, self._locking, self.ttl_ms],
            )
        except Exception:  # a missed renewal is caught at commit
            return
        if not renewed:
            self.lost = True

    async def commit(
        self, writes: Sequence[Write], patience: float = 0.0, *, queued: bool = False
    ) -> bool:
        """Apply ``writes``, mark the update done, release the lock; False if not ours
        (``patience``: see `_run`). ``queued``: mark it queued instead (it was put on the
        long-work queue: `lambdagram.long_work`), and make the chat's later updates follow it.
        From the queue (``queue_mode`` "work"), the commit takes it off the chat's queue."""
        keys = [self.dedupe_key, self.lock_key, self.attempts_key, self.queued_key]
        queue_op = "+" if queued else "-" if self.queue_mode == "work" else ""
        args: list[str | int] = [
            self.token,
            self._locking,
            DONE_TTL,
            "q:" if queued else "done:",
            queue_op if self.fsm_keys is not None else "",
            str(self.update_id),
            DONE_TTL * 1000,
        ]
        for write in writes:
            keys.append(write.key)
            args.extend([write.value or "", write.ttl or 0])
        return bool(await self._run(self.scripts.commit, keys, args, patience))

    @staticmethod
    async def _run(
        script: AsyncScript, keys: list[str], args: list[str | int], patience: float
    ) -> Any:
        """Run ``script``; after a timeout, run it again for up to ``patience`` seconds.

        A timeout does not say whether Redis ran the script (a stalled Redis runs it when it
        resumes, after the client gave up): the claim and the commit recognise their own
        earlier run by this claim's token, so running them again is always safe, and the
        answer is then the truth instead of a false "nothing was saved".
        """
        deadline = time.monotonic() + patience
        pause = 0.05
        while True:
            try:
                return await script(keys=keys, args=args)
            except RedisTimeoutError:
                if time.monotonic() + pause >= deadline:
                    raise
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.5)

    async def join_queue(self, patience: float = 0.0) -> None:
        """Mark the update queued behind the chat's other queued ones (no lock needed: it was
        sent to the queue after them, and nothing of the chat's state was read)."""
        keys = [self.dedupe_key, self.queued_key]
        args: list[str | int] = [self.token, DONE_TTL, str(self.update_id), DONE_TTL * 1000]
        await self._run(self.scripts.join_queue, keys, args, patience)

    async def dequeue(self) -> None:
        """Take the update off the chat's queue (it will never be committed: a dead letter)."""
        await self.scripts.dequeue(keys=[self.queued_key], args=[str(self.update_id)])

    def blocked_for(self) -> float:
        """Seconds since the event loop last let the renewal timer run (or since the claim)."""
        return time.monotonic() - self.last_tick

    async def abandon(self) -> None:
        """Give the update back (best effort): Telegram's retry will process it afresh."""
        with contextlib.suppress(Exception):
            await self.scripts.abandon(
                keys=[self.dedupe_key, self.lock_key], args=[self.token, self._locking]
            )


class Renewing:
    """Renews a claim's lock and mark every third of their TTL while the body runs.

    A timer, not a task: most handlers finish long before the first renewal is due, and
    then nothing was started that has to be cancelled.
    """

    __slots__ = ("_claim", "_interval", "_loop", "_renewals", "_timer")

    def __init__(self, claim: Claim) -> None:
        self._claim = claim
        self._interval = claim.ttl_ms / 3000
        self._renewals: set[asyncio.Task[None]] = set()
        self._timer: asyncio.TimerHandle | None = None

    async def __aenter__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._timer = self._loop.call_later(self._interval, self._due)

    def _due(self) -> None:
        self._claim.last_tick = time.monotonic()
        task = self._loop.create_task(self._claim._renew())
        self._renewals.add(task)
        task.add_done_callback(self._renewals.discard)
        self._timer = self._loop.call_later(self._interval, self._due)

    async def __aexit__(self, *exc_info: object) -> None:
        if self._timer is not None:
            self._timer.cancel()
        for task in list(self._renewals):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def dedupe_key(slot: str, update_id: int | str) -> str:
    """The key that remembers whether an update was processed (or is being processed)."""
    return f"{PREFIX}:{slot}:update:{update_id}"


def out_of_time_key(slot: str, update_id: int | str) -> str:
    """The count of an update's runs the deadline cut off (`Claim.ran_out_of_time`)."""
    return f"{PREFIX}:{slot}:out-of-time:{update_id}"


async def forget_given_up(scripts: Scripts, slot: str, update_id: int | str) -> None:
    """Forget what marks an update the engine gave up on (its poison or queued mark, its
    runs out of time), so replaying its dead letter runs it; a committed one stays done."""
    keys = [dedupe_key(slot, update_id), out_of_time_key(slot, update_id)]
    await scripts.forget_given_up(keys=keys)


def queued_key(slot: str) -> str:
    """The chat's updates on the long-work queue (a sorted set: id -> kept until)."""
    return f"{PREFIX}:{slot}:queued"


def chat_slot(bot_id: int, key: StorageKey | None) -> str:
    """The hash tag every key of this chat shares (one cluster slot per chat)."""
    return f"{{{bot_id}:{key.chat_id}}}" if key is not None else f"{{{bot_id}}}"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
