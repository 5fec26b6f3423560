"""The Dispatcher factory: a fresh Dispatcher for every update."""

from __future__ import annotations

from aiogram import Dispatcher, Router
from aiogram.fsm.storage.base import BaseStorage

from bot import handler_cache
from bot.routers import create_routers
from bot.settings import Settings

handler_cache.install()


def build_dispatcher(storage: BaseStorage, settings: Settings) -> Dispatcher:
    """A Dispatcher over ``storage`` with new instances of every router.

    Built per update: aiogram attaches a router to one parent only, and nothing about a
    conversation may outlive the invocation. ``settings`` reaches handlers that ask for
    a ``settings: Settings`` argument (aiogram's workflow data).
    """
    dispatcher = Dispatcher(storage=storage, settings=settings)
    dispatcher.include_routers(*create_routers())
    return dispatcher


def discard(dispatcher: Dispatcher) -> None:
    """Free a used Dispatcher now, instead of leaving it to the cycle collector.

    Routers and their ~26 observers point at each other, so a finished Dispatcher is ~1500
    objects in reference cycles: only a full garbage collection frees them, and those grew
    into 50-100 ms pauses every few hundred updates. Emptying each router's and observer's
    attributes breaks the cycles and reference counting frees everything at once. The
    Dispatcher must not be used afterwards.
    """
    routers: list[Router] = [dispatcher]
    while routers:
        router = routers.pop()
        routers.extend(router.sub_routers)
        for observer in router.observers.values():
            vars(observer).clear()
        vars(router).clear()


def used_update_types() -> list[str]:
    """The update kinds the routers handle: what ``setWebhook(allowed_updates=...)`` asks for."""
    root = Router(name="allowed-updates")
    root.include_routers(*create_routers())
    return root.resolve_used_update_types()
