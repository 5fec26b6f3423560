"""The signature cache gives aiogram the very facts it would compute itself."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from aiogram import Dispatcher, Router
from aiogram.dispatcher.event.handler import CallableObject
from redis.asyncio import Redis

from lambdagram import handler_cache
from lambdagram.settings import Settings
from lambdagram.storage import create_storage

from tests.conftest import SECRET, TOKEN, import_handler

SETTINGS = Settings.from_environ(
    {"BOT_TOKEN": TOKEN, "WEBHOOK_SECRET": SECRET, "REDIS_URL": "redis://127.0.0.1:1/0"}
)


def callables(router: Router) -> Iterator[CallableObject]:
    for observer in router.observers.values():
        yield observer._handler
        for handler in observer.handlers:
            yield handler
            yield from handler.filters or ()
    for child in router.sub_routers:
        yield from callables(child)


def facts(dispatcher: Dispatcher) -> list[tuple[Any, ...]]:
    return [
        (
            type(c).__name__,
            repr(c.callback)[:40],
            c.awaitable,
            sorted(c.params),
            c.varkw,
            sorted(getattr(c, "flags", {})),
        )
        for c in callables(dispatcher)
    ]


def build() -> Dispatcher:
    """An update's Dispatcher for the test bot, imported afresh (its handlers registered anew)."""
    form = import_handler()
    unused = Redis.from_url(SETTINGS.redis_url)  # never connects: nothing is dispatched
    dispatcher: Dispatcher = form.app.blueprint.dispatcher(create_storage(unused, SETTINGS))
    return dispatcher


def test_cached_facts_equal_aiograms_own_for_every_handler_and_filter() -> None:
    handler_cache.uninstall()
    try:
        expected = facts(build())
    finally:
        handler_cache.install()
    build()  # fills the cache

    cached = facts(build())

    assert len(cached) > 40
    assert [f[2:] for f in cached] == [f[2:] for f in expected]


def test_a_callable_with_its_own_signature_is_not_cached() -> None:
    def handler(message: Any) -> None: ...

    handler.__signature__ = None  # type: ignore[attr-defined]

    assert handler_cache._key(handler) is None
