"""Timers: work a handler schedules for its chat, run exactly once at its time.

A polling bot keeps timers in its process (APScheduler, ``asyncio.sleep`` loops); on Lambda
there is no process to keep them. Here a handler asks for a timer through a dependency
injected by name, and EventBridge Scheduler keeps it: at the time, Scheduler invokes the
function with an internal event, and the engine runs the job like an update (dedupe by the
timer and its time, the chat's lock, its FSM state, one commit)::

    jobs = Jobs()

    @router.message(Command("remind"))
    async def remind(message: Message, timers: Timers) -> None:
        await timers.after(timedelta(minutes=10), "reminder", {"text": "Stand up!"})

    @jobs.job("reminder")
    async def reminder(bot: Bot, chat_id: int, data: dict, state: FSMContext) -> None:
        await bot.send_message(chat_id, data["text"])

    def configure(dp: Dispatcher) -> None:
        dp.include_router(router)
        jobs.setup(dp)

A job gets what a handler would, by name: ``bot``, ``state`` (the chat's `FSMContext`),
``chat_id``, ``user_id``, ``data`` (what it was scheduled with), ``timers`` (to schedule
again), ``scheduled_at`` and the bot's workflow data. Timers are named after the update that
made them (``c<chat>-<update id>-<n>``), so a retried update creates the same ones again, not
new ones; at-least-once delivery by Scheduler is made exactly once by the claim.
"""

from __future__ import annotations

import contextlib
import datetime
import json
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from aiogram import BaseMiddleware, Dispatcher
from aiogram.dispatcher.event.handler import CallableObject
from aiogram.types import TelegramObject, Update

from lambdagram.deferred import INTERNAL_KEY
from lambdagram.names import JOBS_KEY
from lambdagram.scoped import bound

SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"  # filled in by Scheduler at each firing
F = TypeVar("F", bound=Callable[..., Any])


class TimersUnavailable(RuntimeError):
    """No scheduler is configured where the handler runs; the message says what to set."""


class TooManyTimers(ValueError):
    """The chat has `Jobs`' ``per_chat`` timers still to fire: one more is refused (a user
    sending /remind in a loop must not fill the account's Scheduler quota for everyone)."""


class Backend(Protocol):
    """Where timers are kept: EventBridge Scheduler (`lambdagram.scheduler`), or a stand-in."""

    async def create(self, name: str, expression: str, timezone: str, payload: str) -> None: ...

    async def delete(self, name: str) -> bool: ...

    async def names(self, prefix: str) -> list[str]: ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Target:
    """The chat context a timer's job runs in."""

    chat_id: int
    user_id: int | None = None
    thread_id: int | None = None
    business_connection_id: str | None = None


PER_CHAT = 100
"""Timers one chat may have waiting, unless `Jobs` is given another ``per_chat``."""


class Jobs:
    """The bot's jobs by name, registered like handlers; ``per_chat``: the timers one chat may
    have waiting (`TooManyTimers` past it; each new timer then costs one more Scheduler call,
    ``ListSchedules``, to count them; 0: no cap and no call)."""

    def __init__(self, *, per_chat: int = PER_CHAT) -> None:
        self.callbacks: dict[str, CallableObject] = {}
        self.per_chat = per_chat

    def job(self, name: str | None = None) -> Callable[[F], F]:
        """Register the decorated coroutine function as the job ``name`` (its own name if
        none)."""

        def register(callback: F) -> F:
            self.callbacks[name or callback.__name__] = CallableObject(callback)
            return callback

        return register

    def setup(self, dispatcher: Dispatcher) -> None:
        """Make the jobs known to the engine and ``timers`` injectable in every handler."""
        dispatcher.workflow_data[JOBS_KEY] = self
        dispatcher.update.outer_middleware.register(TimersMiddleware(self))


class Timers:
    """A handler's (or job's) timers for its chat; injected as ``timers``."""

    def __init__(self, jobs: Jobs, backend: Backend | None, target: Target, origin: str) -> None:
        self._jobs = jobs
        self._backend = backend
        self.target = target
        self._origin = origin
        self._made = 0

    @property
    def prefix(self) -> str:
        """The names of this chat's timers start with it."""
        return f"c{self.target.chat_id}".replace("-", "m") + "-"

    async def at(
        self, when: datetime.datetime, job: str, data: Mapping[str, Any] | None = None
    ) -> str:
        """Run ``job`` once at ``when`` (aware, or UTC if naive); the timer's id."""
        moment = when.astimezone(datetime.UTC) if when.tzinfo else when
        expression = f"at({moment.replace(tzinfo=None, microsecond=0).isoformat()})"
        return await self._create(expression, "UTC", job, data)

    async def after(
        self, delay: datetime.timedelta | float, job: str, data: Mapping[str, Any] | None = None
    ) -> str:
        """Run ``job`` once after ``delay`` (a timedelta or seconds); the timer's id."""
        seconds = delay.total_seconds() if isinstance(delay, datetime.timedelta) else delay
        when = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=max(1, seconds))
        return await self.at(when, job, data)

    async def cron(
        self,
        expression: str,
        job: str,
        data: Mapping[str, Any] | None = None,
        *,
        timezone: str = "UTC",
    ) -> str:
        """Run ``job`` on EventBridge's cron ``expression`` (six fields, ``0 9 * * ? *`` is
        09:00 daily) in ``timezone`` (an IANA name: the user's own); the timer's id."""
        return await self._create(f"cron({expression})", timezone, job, data)

    async def cancel(self, timer: str) -> bool:
        """Cancel one of this chat's timers; False if there was none (it fired already)."""
        if not timer.startswith(self.prefix):
            msg = f"timer {timer!r} is not one of this chat's"
            raise ValueError(msg)
        return await self._need().delete(timer)

    async def list(self) -> list[str]:
        """The ids of this chat's timers still to fire."""
        return sorted(await self._need().names(self.prefix))

    async def _create(
        self, expression: str, timezone: str, job: str, data: Mapping[str, Any] | None
    ) -> str:
        if job not in self._jobs.callbacks:
            known = ", ".join(sorted(self._jobs.callbacks)) or "none"
            msg = f"no job named {job!r} (registered: {known}): decorate it with @jobs.job()"
            raise KeyError(msg)
        self._made += 1
        name = f"{self.prefix}{self._origin}-{self._made}"[:64]
        payload = job_event(job, name, self.target, dict(data or {}))
        json.dumps(payload)  # a job's data must be JSON: say so here, not when it fires
        backend = self._need()
        if self._jobs.per_chat:
            waiting = await backend.names(self.prefix)
            if len(waiting) >= self._jobs.per_chat and name not in waiting:  # not a retry's
                msg = (
                    f"chat {self.target.chat_id} has {len(waiting)} timers waiting, its limit "
                    "(Jobs(per_chat=...)): cancel one (timers.cancel) before setting another"
                )
                raise TooManyTimers(msg)
        await backend.create(name, expression, timezone, json.dumps(payload))
        return name

    def _need(self) -> Backend:
        if self._backend is None:
            msg = (
                "timers need a scheduler: deployed, set timers=on (TIMERS_GROUP and friends); "
                "locally, make chat/dev/demo bring a stand-in"
            )
            raise TimersUnavailable(msg)
        return self._backend


def job_event(job: str, timer: str, target: Target, data: dict[str, Any]) -> dict[str, Any]:
    """The internal event Scheduler invokes the function with when ``timer`` fires."""
    return {
        INTERNAL_KEY: {
            "job": {
                "name": job,
                "timer": timer,
                "chat_id": target.chat_id,
                "user_id": target.user_id,
                "thread_id": target.thread_id,
                "business_connection_id": target.business_connection_id,
                "data": data,
                "at": SCHEDULED_TIME,
            }
        }
    }


_backend: ContextVar[Backend | None] = ContextVar("lambdagram_timers", default=None)


def serving(backend: Backend | None) -> contextlib.AbstractContextManager[Backend | None]:
    """Timers made while the body runs are kept by ``backend`` (the engine sets it per update)."""
    return bound(_backend, backend)


def current_backend() -> Backend | None:
    return _backend.get()


class TimersMiddleware(BaseMiddleware):
    """Injects ``timers`` (this update's chat) into every handler's data."""

    def __init__(self, jobs: Jobs) -> None:
        self.jobs = jobs

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        context = data.get("event_context")
        chat = getattr(context, "chat", None)
        if chat is not None and isinstance(event, Update):
            target = Target(
                chat_id=chat.id,
                user_id=getattr(context, "user_id", None),
                thread_id=getattr(context, "thread_id", None),
                business_connection_id=getattr(context, "business_connection_id", None),
            )
            data["timers"] = Timers(self.jobs, _backend.get(), target, f"u{event.update_id}")
        return await handler(event, data)
