"""A polling bot's own ``main()`` handed over as it is: `from_polling` runs it up to
``start_polling`` and takes what it built there.

A polling bot's entry point builds a ``Bot`` (with its defaults), a ``Dispatcher`` (routers,
middlewares, workflow data), awaits its setup, then calls ``dp.start_polling(bot, **data)``.
`from_polling` imports that file from the bot's folder (put on ``sys.path`` first, so its
bare-name imports, ``from handlers import start``, work; loaded under a name of its own, so a
``bot.py`` inside a ``bot/`` folder is no clash), runs ``main()`` on the process's event loop
with ``start_polling``/``run_polling`` replaced by a capture, and returns the Dispatcher, the
Bot's defaults and the keyword data for `Lambdagram`. While it runs, ``main()`` reaches no
Bot API: webhook management (``delete_webhook``, which polling needs and a webhook must not
get) is skipped, any other call stops the cold start with the fix (even one ``main()``
catches: its startup message would otherwise be lost without a word). What ``main()`` starts
besides polling (``asyncio.create_task`` loops, a scheduler's timers) would run on Lambda only
while some update is handled, with ``main()``'s own Bot: it is stopped, with one WARNING that
names it and points at "Timers".
"""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.methods import TelegramMethod

from lambdagram.runtime import ensure_event_loop

SKIPPED = frozenset({"deleteWebhook", "setWebhook", "getWebhookInfo", "deleteMyCommands"})


class PollingMainError(RuntimeError):
    """The bot's ``main()`` could not be handed over; the message names the cause and fix."""


@dataclass(frozen=True)
class Captured:
    """What ``main()`` built: the Dispatcher, the Bot's defaults, ``start_polling``'s data."""

    dispatcher: Dispatcher
    default: DefaultBotProperties | None
    data: dict[str, Any]


class _Stop(Exception):
    """Raised from the replaced ``start_polling``: ``main()`` got as far as polling."""

    def __init__(self, captured: Captured) -> None:
        super().__init__("captured")
        self.captured = captured


def capture(path: str | os.PathLike[str], main: str = "main") -> Captured:
    """Run ``main`` of the file at ``path`` up to its ``start_polling``."""
    file = Path(path).resolve()
    if not file.is_file():
        msg = f"{file} does not exist: give the file with the bot's main() (e.g. 'bot/bot.py')"
        raise PollingMainError(msg)
    folder = str(file.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)  # its bare-name imports: `from handlers import start`
    spec = importlib.util.spec_from_file_location(f"lambdagram_polling_main_{file.stem}", file)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    entry = getattr(module, main, None)
    if not callable(entry):
        msg = f"{file} has no {main}(): name the function that calls start_polling (main=...)"
        raise PollingMainError(msg)
    loop = ensure_event_loop()
    tasks, timers = set(asyncio.all_tasks(loop)), set(_timers(loop))
    refusals: list[PollingMainError] = []
    captured: Captured | None = None
    with _captured(refusals):
        try:
            result = entry()
            if inspect.isawaitable(result):
                loop.run_until_complete(result)
        except _Stop as caught:
            captured = caught.captured
    _stop_what_it_started(loop, asyncio.all_tasks(loop) - tasks, set(_timers(loop)) - timers)
    if refusals:
        raise refusals[0]
    if captured is None:
        msg = f"{file}: {main}() returned without calling dp.start_polling(bot, ...)"
        raise PollingMainError(msg)
    return captured


def _timers(loop: asyncio.AbstractEventLoop) -> list[asyncio.TimerHandle]:
    """The loop's pending ``call_later`` callbacks of code (a scheduler's next wake-up), not
    those a task's own ``asyncio.sleep`` made (they go with the task)."""
    scheduled = getattr(loop, "_scheduled", [])  # asyncio's own loop keeps them there
    return [
        handle
        for handle in scheduled
        if not handle.cancelled()
        and not any(isinstance(arg, asyncio.Future) for arg in getattr(handle, "_args", ()))
    ]


def _stop_what_it_started(
    loop: asyncio.AbstractEventLoop,
    tasks: set[asyncio.Task[Any]],
    timers: set[asyncio.TimerHandle],
) -> None:
    """Cancel the tasks and timers ``main()`` left running, saying which, once."""
    names = [_named(task.get_coro()) for task in tasks]
    names += [_named(getattr(timer, "_callback", timer)) for timer in timers]
    if not names:
        return
    for task in tasks:
        task.cancel()
    for timer in timers:
        timer.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    from lambdagram.observability import logger

    logger.warning(
        f"main() started {', '.join(sorted(names))} besides polling: on Lambda nothing runs "
        "between updates (it would run only while one is handled, with main()'s own Bot), so "
        'it is stopped; schedule such work with lambdagram\'s timers (README "Timers")',
        extra={"stopped": sorted(names)},
    )


def _named(thing: object) -> str:
    """A coroutine's or callback's qualified name, for people."""
    code = getattr(thing, "cr_code", None)
    if code is not None:
        return str(code.co_qualname)
    return str(getattr(thing, "__qualname__", type(thing).__qualname__))


@contextmanager
def _captured(refusals: list[PollingMainError]) -> Iterator[None]:
    """``start_polling``/``run_polling`` capture instead of polling; the Bot API is closed
    (each refusal also noted in ``refusals``, so main()'s own ``except`` cannot hide it)."""
    original_start, original_run = Dispatcher.start_polling, Dispatcher.run_polling
    original_call = Bot.__call__

    def stop(dispatcher: Dispatcher, bots: tuple[Bot, ...], data: dict[str, Any]) -> _Stop:
        default = bots[0].default if bots else None
        data = {k: v for k, v in data.items() if k not in _POLLING_ARGUMENTS}
        return _Stop(Captured(dispatcher, default, data))

    async def start_polling(self: Dispatcher, *bots: Bot, **data: Any) -> None:
        raise stop(self, bots, data)

    def run_polling(self: Dispatcher, *bots: Bot, **data: Any) -> None:
        raise stop(self, bots, data)

    async def closed(
        self: Bot, method: TelegramMethod[Any], request_timeout: int | None = None
    ) -> Any:
        name = method.__api_method__
        if name in SKIPPED:
            return True
        msg = (
            f"main() calls the Bot API ({name}) before start_polling: at a cold start there is "
            "no Bot API yet; move the call into a startup hook (dp.startup.register(...)), "
            "which lambdagram runs with the bot before the first update"
        )
        refusals.append(PollingMainError(msg))
        raise refusals[-1]

    Dispatcher.start_polling = start_polling  # type: ignore[method-assign]
    Dispatcher.run_polling = run_polling  # type: ignore[method-assign]
    Bot.__call__ = closed  # type: ignore[method-assign]
    try:
        yield
    finally:
        Dispatcher.start_polling = original_start  # type: ignore[method-assign]
        Dispatcher.run_polling = original_run  # type: ignore[method-assign]
        Bot.__call__ = original_call  # type: ignore[method-assign]


# start_polling's own parameters (aiogram 3.31), not workflow data
_POLLING_ARGUMENTS = frozenset(
    {
        "polling_timeout",
        "handle_as_tasks",
        "backoff_config",
        "allowed_updates",
        "handle_signals",
        "close_bot_session",
        "tasks_concurrency_limit",
    }
)
