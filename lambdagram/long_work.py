"""Long handlers: flagged the aiogram way, run on the worker instead of in the webhook answer.

A handler declares itself long with aiogram's handler flags::

    @router.message(Command("draw"), flags={"long": True})            # "typing" shown
    @router.message(F.photo, flags={"long": {"chat_action": "upload_photo"}})
    @on.message(F.text)  # in a Scene: aiogram's flag decorator
    @flags.long
    async def generate(message: Message) -> None: ...

`LongWork`, an inner middleware on every observer of the bot's root router (so on every
handler below it), sees the flag once filters chose the handler. On the webhook it does not
call the handler: it notes that the update must go to the queue, and the engine sends the
update there (`lambdagram.dispatch`) and answers Telegram at once. On the worker it calls the
handler while the chat sees the action ("typing" by default) refreshed every 4 s. Where no
queue is configured (``LONG_WORK_QUEUE_URL`` unset: local tools, the feature turned off), a
long handler runs inline as any other, and the cold start says so once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from aiogram import BaseMiddleware, Bot, Router
from aiogram.dispatcher.flags import get_flag
from aiogram.types import Chat, TelegramObject

from lambdagram.names import ENGINE_OBSERVERS, LONG_FLAG
from lambdagram.observability import logger
from lambdagram.scoped import bound

DEFAULT_ACTION = "typing"
ACTION_EVERY = 4.0  # seconds; Telegram shows an action for 5 s (or until the bot sends)


@dataclass(slots=True)
class Run:
    """How long handlers run in this update: ``web`` (defer them) or ``work`` (run them)."""

    mode: str
    deferred: bool = False


_run: ContextVar[Run | None] = ContextVar("lambdagram_long_work", default=None)


def running(mode: str) -> contextlib.AbstractContextManager[Run | None]:
    """Long handlers in this context are deferred (``web``) or run (``work``)."""
    return bound(_run, Run(mode))


def install(root: Router) -> None:
    """Put `LongWork` on every observer of ``root`` (its inner middlewares reach every
    handler of the routers below it)."""
    middleware = LongWork()
    for name, observer in root.observers.items():
        if name not in ENGINE_OBSERVERS:
            observer.middleware.register(middleware)


class LongWork(BaseMiddleware):
    """Defers (webhook) or runs with a chat action (worker) the handlers flagged long."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        flag = get_flag(data, LONG_FLAG)
        run = _run.get()
        if not flag or run is None:
            return await handler(event, data)
        if run.mode == "web":
            run.deferred = True
            return None
        action = flag.get("chat_action", DEFAULT_ACTION) if isinstance(flag, dict) else None
        action = DEFAULT_ACTION if flag is True else action
        chat: Chat | None = data.get("event_chat")
        if not action or chat is None:
            return await handler(event, data)
        async with showing(data["bot"], chat.id, data.get("event_thread_id"), str(action)):
            return await handler(event, data)


@contextlib.asynccontextmanager
async def showing(
    bot: Bot, chat_id: int, thread_id: int | None, action: str
) -> AsyncIterator[None]:
    """Show ``action`` in the chat while the body runs (a failed send is skipped, not raised:
    the handler's work matters more than the indicator)."""

    async def refresh() -> None:
        while True:
            with contextlib.suppress(Exception):
                await bot.send_chat_action(
                    chat_id=chat_id, action=action, message_thread_id=thread_id
                )
            await asyncio.sleep(ACTION_EVERY)

    task = asyncio.create_task(refresh())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def message_body(raw: dict[str, Any]) -> str:
    """The queue message for one update (its JSON as Telegram sent it)."""
    return json.dumps({"update": raw}, separators=(",", ":"), ensure_ascii=False)


def update_of(parsed: dict[str, Any]) -> dict[str, Any]:
    """The raw update in a queue message (parsed); ValueError if it is not one of ours."""
    raw = parsed.get("update")
    if not isinstance(raw, dict) or not isinstance(raw.get("update_id"), int):
        msg = "not a lambdagram queue message (no update in it)"
        raise ValueError(msg)
    return raw


def warn_inline(names: list[str]) -> None:
    """Once per cold start: flagged handlers that run inline because there is no queue."""
    logger.warning(
        f"{len(names)} handler(s) flagged long ({', '.join(names[:5])}) run inside the "
        "webhook's answer: LONG_WORK_QUEUE_URL is not set (deploy with longWork=on, or set "
        "it to the queue's URL)",
        extra={"alert": "long_work"},
    )
