"""The bot's Dispatcher, configured once per process and copied into a fresh one per update.

A polling bot builds one Dispatcher in ``main()``: routers included (module-level ones with
decorators, as aiogram's examples write them), middlewares, workflow data, error handlers,
startup hooks. `Blueprint` runs exactly that once per process, on a Dispatcher of its own
(or takes the bot's own module-level ``dp``), so a mistake in it stops the cold start.

For every update, `Blueprint.dispatcher` makes a new Dispatcher over that update's FSM
storage: its own ``update`` observer (the errors, user-context and FSM middlewares
``Dispatcher.__init__`` registers there, the FSM one over this update's storage, then the
bot's own), its own workflow data (a copy of the blueprint's) and sub-router list, and the
blueprint's observers for every other event kind, as a polling bot's one Dispatcher has
them. The sub-routers stay attached to the
blueprint (aiogram lets a router have one parent): the fresh Dispatcher propagates events
into them through its own ``sub_routers`` list. Nothing shared is changed per update, and
`discard` frees only what was made for it.

Coupled to aiogram 3.31 internals: the attributes ``Dispatcher.__init__`` gives (learned from
a Dispatcher built once, an unknown one stops the cold start), ``TelegramEventObserver``'s
``handlers``, ``middleware``, ``outer_middleware`` (their ``_middlewares`` lists) and
``_handler`` (observer filters), and the three middlewares ``Dispatcher.__init__`` registers
on ``update`` (checked in tests).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

import aiogram
from aiogram import Bot, Dispatcher, Router
from aiogram.dispatcher.event.event import EventObserver
from aiogram.dispatcher.event.handler import HandlerObject
from aiogram.dispatcher.event.telegram import TelegramEventObserver
from aiogram.dispatcher.middlewares.error import ErrorsMiddleware
from aiogram.dispatcher.middlewares.manager import MiddlewareManager
from aiogram.dispatcher.middlewares.user_context import UserContextMiddleware
from aiogram.fsm.middleware import FSMContextMiddleware
from aiogram.fsm.storage.base import BaseStorage
from aiogram.fsm.storage.memory import DisabledEventIsolation

from lambdagram import handler_cache, inline_filters, lazy_types
from lambdagram.albums import AlbumMiddleware
from lambdagram.fsm import UpdateStorage
from lambdagram.names import BROADCASTS_KEY, ENGINE_OBSERVERS, JOBS_KEY, LONG_FLAG

Configure = Callable[[Dispatcher], object]
"""What a polling bot's ``main()`` does to its Dispatcher before ``start_polling``."""

handler_cache.install()
inline_filters.install()


class BotSetupError(RuntimeError):
    """The bot's configuration failed; raised at cold start, never on a later update."""


class Blueprint:
    """The bot's configured Dispatcher, from which every update's Dispatcher is made."""

    def __init__(self, setup: Configure | Dispatcher) -> None:
        """Configure the bot now: ``setup`` is a ``configure(dp)`` function, or the bot's
        own Dispatcher (the single-file style with ``@dp.message(...)`` handlers)."""
        if isinstance(setup, Dispatcher):
            self.root = setup
        elif callable(setup):
            self.root = Dispatcher()
            _run_configure(setup, self.root)
        else:  # typed callers cannot get here; untyped ones can
            msg = (  # type: ignore[unreachable]
                "lambdagram needs the bot's configure(dp) function or its Dispatcher, "
                f"not {type(setup).__name__}"
            )
            raise BotSetupError(msg)
        lazy_types.complete_foreign_models()  # the bot's libraries are imported by now
        # what libraries feed to this root Dispatcher themselves (aiogram-dialog's bg())
        # reads and writes the storage of the update being handled, not this one's own
        self.root.fsm.storage = UpdateStorage(self.root.fsm.storage)
        self._fsm_enabled = self.root.fsm in self.root.update.outer_middleware
        self._shared = _shared_attributes(self.root)
        self._started = False
        self.long_handlers = flagged_long(self.root)
        """The handlers flagged long (`lambdagram.long_work`): they run on the worker."""
        if self.long_handlers:
            from lambdagram import long_work  # only bots with long handlers import it

            long_work.install(self.root)
        self.registers_jobs = JOBS_KEY in self.root.workflow_data
        """Whether the bot registered timer jobs (`lambdagram.timers.Jobs.setup`)."""
        self.broadcasts = BROADCASTS_KEY in self.root.workflow_data
        """Whether the bot sends broadcasts (`lambdagram.broadcasts.setup_broadcasts`)."""
        self.collects_albums = any(
            isinstance(m, AlbumMiddleware)
            for router in routers_of(self.root)
            for observer in router.observers.values()
            for m in (*observer.middleware, *observer.outer_middleware)
        )

    @property
    def needs_queue(self) -> bool:
        """Whether the bot has work for the long-work queue and its worker."""
        return bool(self.long_handlers) or self.broadcasts

    def dispatcher(self, storage: BaseStorage) -> Dispatcher:
        """A new Dispatcher over ``storage`` with the bot's handlers, middlewares and data.

        Made without ``Dispatcher.__init__`` (which builds ~30 observers, each with its
        managers and a dummy handler): it has the attributes ``__init__`` gives, its own
        ``update`` observer, FSM middleware, workflow data and sub-router list, and the
        blueprint's observers for every event kind (`_shared_attributes`).
        """
        root = self.root
        fresh: Dispatcher = Dispatcher.__new__(Dispatcher)
        fsm = FSMContextMiddleware(
            storage=storage, events_isolation=_NO_ISOLATION, strategy=root.fsm.strategy
        )
        update = TelegramEventObserver.__new__(TelegramEventObserver)
        attributes = vars(fresh)
        attributes.update(self._shared)
        attributes.update(
            name=hex(id(fresh)),
            _parent_router=None,
            sub_routers=list(root.sub_routers),
            observers={**root.observers, "update": update},
            update=update,
            fsm=fsm,
            workflow_data=dict(root.workflow_data),
            _running_lock=asyncio.Lock(),
            _stop_signal=None,
            _stopped_signal=None,
            _handle_update_tasks=set(),
        )
        source = root.update
        inner, outer = MiddlewareManager(), MiddlewareManager()
        inner._middlewares.extend(source.middleware._middlewares)
        outer._middlewares.append(ErrorsMiddleware(fresh))
        outer._middlewares.append(_USER_CONTEXT)
        if self._fsm_enabled:
            outer._middlewares.append(fsm)
        # the bot's own, read at each update (a startup hook may still add some)
        outer._middlewares.extend(
            m for m in source.outer_middleware._middlewares if not _is_builtin(root, m)
        )
        listen = root._listen_update
        handlers = [HandlerObject(callback=fresh._listen_update)]
        handlers.extend(h for h in source.handlers if h.callback != listen)
        vars(update).update(
            router=fresh,
            event_name="update",
            handlers=handlers,
            middleware=inner,
            outer_middleware=outer,
            _handler=source._handler,
        )
        return fresh

    async def startup(self, bot: Bot) -> None:
        """Run the bot's startup hooks, once per process (as ``start_polling`` does)."""
        if self._started:
            return
        root = self.root
        await root.emit_startup(bot=bot, bots=[bot], dispatcher=root, **root.workflow_data)
        self._started = True

    @property
    def started(self) -> bool:
        """Whether the startup hooks have run in this process."""
        return self._started

    def used_update_types(self) -> list[str]:
        """The update kinds the bot handles: what ``setWebhook(allowed_updates=...)`` asks for."""
        return self.root.resolve_used_update_types()


_OWN = frozenset(
    {
        "name", "_parent_router", "sub_routers", "observers", "update", "fsm", "workflow_data",
        "_running_lock", "_stop_signal", "_stopped_signal", "_handle_update_tasks",
    }
)  # fmt: skip
"""What `Blueprint.dispatcher` gives each update's Dispatcher of its own."""
_NO_ISOLATION = DisabledEventIsolation()  # the chat's lock serialises a chat's updates
_USER_CONTEXT = UserContextMiddleware()  # keeps nothing between calls


def _shared_attributes(root: Dispatcher) -> dict[str, Any]:
    """The attributes every update's Dispatcher takes from ``root``: its observers for every
    event kind but ``update`` (``message``, ``errors``, ``startup``, ...).

    Learned from a Dispatcher built the ordinary way; an attribute that is neither an
    observer nor one of `_OWN` (an aiogram this engine was not made for) stops the cold start.
    """
    plain = Dispatcher()
    shared = {
        name: getattr(root, name)
        for name, value in vars(plain).items()
        if name not in _OWN and isinstance(value, TelegramEventObserver | EventObserver)
    }
    unknown = set(vars(plain)) - _OWN - set(shared)
    if unknown:
        msg = (
            f"aiogram {aiogram.__version__} gives a Dispatcher attributes lambdagram does not "
            f"know ({', '.join(sorted(unknown))}): install the aiogram version requirements.txt "
            "pins"
        )
        raise BotSetupError(msg)
    return shared


def _run_configure(configure: Configure, dispatcher: Dispatcher) -> None:
    name = getattr(configure, "__qualname__", repr(configure))
    if inspect.iscoroutinefunction(configure):
        msg = (
            f"{name}(dp) is async: make it a plain function, and move what it awaits into "
            "a startup hook (dp.startup.register(...)), which lambdagram runs once per process"
        )
        raise BotSetupError(msg)
    try:
        result = configure(dispatcher)
    except Exception as error:
        msg = f"the bot's {name}(dp) failed: {type(error).__name__}: {error}"
        if "already attached" in str(error):
            msg += (
                " (a router can be included once: include each router in one place only,"
                " and configure the bot once per process)"
            )
        raise BotSetupError(msg) from error
    if inspect.isawaitable(result):
        close = getattr(result, "close", None)
        if close is not None:
            close()
        msg = f"{name}(dp) returned an awaitable: it must configure the Dispatcher synchronously"
        raise BotSetupError(msg)


def _is_builtin(root: Dispatcher, middleware: Any) -> bool:
    """The middlewares every Dispatcher registers on ``update`` for itself."""
    return (
        middleware is root.fsm
        or isinstance(middleware, UserContextMiddleware)
        or (isinstance(middleware, ErrorsMiddleware) and middleware.router is root)
    )


def discard(dispatcher: Dispatcher) -> None:
    """Free a used per-update Dispatcher now, instead of leaving it to the cycle collector.

    The Dispatcher, its ``update`` observer, that observer's handler and its errors
    middleware point at each other: left alone, they wait for a garbage collection (those
    grew into 50-100 ms pauses every few hundred updates). Emptying the two objects'
    attributes breaks the cycles. The blueprint's observers, handlers and middlewares (shared)
    are left alone. The Dispatcher must not be used afterwards.
    """
    update = vars(dispatcher).get("update")
    if update is not None:
        vars(update).clear()
    vars(dispatcher).clear()


def flagged_long(root: Router) -> list[str]:
    """The names of the handlers flagged ``long`` anywhere under ``root``."""
    return [
        getattr(handler.callback, "__qualname__", repr(handler.callback))
        for router in routers_of(root)
        for name, observer in router.observers.items()
        if name not in ENGINE_OBSERVERS
        for handler in observer.handlers
        if handler.flags.get(LONG_FLAG)
    ]


def routers_of(dispatcher: Router) -> list[Router]:
    """``dispatcher`` and every router below it (introspection for tools and tests)."""
    found: list[Router] = []
    pending: list[Router] = [dispatcher]
    while pending:
        router = pending.pop(0)
        found.append(router)
        pending.extend(router.sub_routers)
    return found
