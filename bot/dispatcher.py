"""The Dispatcher factory: a fresh Dispatcher for every update."""

from __future__ import annotations

from aiogram import Dispatcher, Router
from aiogram.fsm.storage.base import BaseStorage

from bot.routers import create_routers
from bot.settings import Settings


def build_dispatcher(storage: BaseStorage, settings: Settings) -> Dispatcher:
    """A Dispatcher over ``storage`` with new instances of every router.

    Built per update: aiogram attaches a router to one parent only, and nothing about a
    conversation may outlive the invocation. ``settings`` reaches handlers that ask for
    a ``settings: Settings`` argument (aiogram's workflow data).
    """
    dispatcher = Dispatcher(storage=storage, settings=settings)
    dispatcher.include_routers(*create_routers())
    return dispatcher


def used_update_types() -> list[str]:
    """The update kinds the routers handle: what ``setWebhook(allowed_updates=...)`` asks for."""
    root = Router(name="allowed-updates")
    root.include_routers(*create_routers())
    return root.resolve_used_update_types()
