"""Tasks a handler leaves running (``asyncio.create_task``) finish inside its own invocation.

Under polling such a task runs on in the process while the next updates come. On Lambda the
process is frozen as soon as the invocation answers, so the task would run on (if ever) in
some *later* invocation, outside its update's claim and chat lock, or never. So while the
handlers run, every task created in their context (by them, or by tasks they started) is
noted (a task factory on the loop, keyed by a context variable), and after they return the
engine waits for those tasks, still under the chat's lock, before it answers and commits:
their FSM writes are part of the update's one commit. A task still running `MARGIN` seconds
before the function's deadline is cancelled with a WARNING line and the
``BackgroundTasksCancelled`` metric (its FSM writes so far are committed with the update's); a
task that raised is logged and counted as a handler error is.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from contextvars import ContextVar, Token
from typing import Any, cast

from lambdagram.observability import Metric, count, logger

MARGIN = 1.0
"""Seconds before the deadline at which tasks still running are cancelled (to answer in)."""

Tasks = set[asyncio.Task[Any]]
_ENGINE_TASKS = ("Claim._renew", "showing.<locals>.refresh")  # the engine's: lock, chat action
_noted: ContextVar[Tasks | None] = ContextVar("lambdagram_background_tasks", default=None)


class noted:  # noqa: N801 - used as a function: ``async with noted() as tasks:``
    """Note every task created in this context (and in the tasks' own) while the body runs."""

    __slots__ = ("_token", "tasks")

    def __init__(self) -> None:
        self.tasks: Tasks = set()
        self._token: Token[Tasks | None] | None = None

    async def __aenter__(self) -> Tasks:
        _install(asyncio.get_running_loop())
        self._token = _noted.set(self.tasks)
        return self.tasks

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._token is not None
        _noted.reset(self._token)


async def settle(tasks: Tasks, left: float | None) -> None:
    """Wait for ``tasks`` (and those they start); cancel what still runs at ``left`` seconds
    less `MARGIN` (None: no deadline); log each one that raised."""
    deadline = None if left is None else time.monotonic() + max(0.0, left - MARGIN)
    reported: Tasks = set()
    while True:
        for task in [t for t in tasks if t.done() and t not in reported]:
            reported.add(task)
            _report(task)
        pending = {t for t in tasks if not t.done()}
        if not pending:
            return
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        await asyncio.wait(pending, timeout=timeout)
        if deadline is not None and time.monotonic() >= deadline:
            if still := {t for t in tasks if not t.done()}:
                await _cancel(still)
            return


def _install(loop: asyncio.AbstractEventLoop) -> None:
    """Put the noting task factory on ``loop`` once, around whatever factory it has."""
    previous = loop.get_task_factory()
    if getattr(previous, "lambdagram_notes", False):
        return

    def factory(
        loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any], **kwargs: Any
    ) -> asyncio.Task[Any]:
        if previous is None:
            task: asyncio.Task[Any] = asyncio.Task(coro, loop=loop, **kwargs)
        else:
            task = cast(asyncio.Task[Any], previous(loop, coro, **kwargs))
        tasks = _noted.get()
        if tasks is not None and not getattr(coro, "__qualname__", "").endswith(_ENGINE_TASKS):
            tasks.add(task)
        return task

    factory.lambdagram_notes = True  # type: ignore[attr-defined]
    loop.set_task_factory(factory)


async def _cancel(pending: Tasks) -> None:
    names = sorted(_name(task) for task in pending)
    for task in pending:
        task.cancel()
    await asyncio.wait(pending, timeout=MARGIN / 2)
    count(Metric.BACKGROUND_CANCELLED, len(pending))
    logger.warning(
        "background task still running at the function's deadline: cancelled",
        extra={"tasks": names, "alert": "background"},
    )


def _report(task: asyncio.Task[Any]) -> None:
    if task.cancelled() or (error := task.exception()) is None:
        return
    count(Metric.HANDLER_ERRORS)
    logger.error(
        "a background task a handler started failed",
        exc_info=(type(error), error, error.__traceback__),
        extra={"task": _name(task), "alert": "handler"},
    )


def _name(task: asyncio.Task[Any]) -> str:
    coro = task.get_coro()
    return str(getattr(coro, "__qualname__", task.get_name()))
