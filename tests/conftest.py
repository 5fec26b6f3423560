"""Fixtures: a real redis-server (and PostgreSQL), a fake Bot API on loopback, the Lambda handler.

The engine's tests run the engine's own test bot (``tests/support/bots/form.py``), never
``bot/``: replacing the example bot leaves them green. ``tests/bot/`` runs ``handler.py``.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Coroutine, Iterator
from types import ModuleType
from typing import Any, TypeVar

import pytest
import redis
from redis.asyncio import Redis as AsyncRedis

from lambdagram import Lambdagram
from lambdagram.local.events import SHAPES, Shape
from lambdagram.local.fake_telegram import FakeTelegram
from lambdagram.local.redis_server import RedisServer, RedisServerMissing
from lambdagram.runtime import ensure_event_loop

from tests.support.postgres import PostgresMissing, PostgresServer
from tests.support.webhook import WebhookClient

pytest_plugins = ["lambdagram.testing"]  # the testing kit bot developers use (tests/bot/)

T = TypeVar("T")
TOKEN = "123456789:TEST-token-not-real-0123456789abcd"
SECRET = "test-secret_0123456789"
FORM_BOT = "tests.support.bots.form"  # the engine's test bot; ``handler`` is the example bot


@pytest.fixture(scope="session", autouse=True)
def event_loop_for_the_session() -> Iterator[None]:
    """The one loop mangum runs every invocation on, closed when the tests end."""
    loop = ensure_event_loop()
    yield
    loop.close()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A real redis-server on a free port for the whole test session."""
    try:
        server = RedisServer()
    except RedisServerMissing as error:
        message = f"{error} (scripts/bootstrap.sh installs it)"
        if os.environ.get("LAMBDAGRAM_REQUIRE_REDIS") == "1":  # make test: a failure, not a skip
            pytest.fail(message)
        pytest.skip(message)
    with server:
        yield server


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for the session, started when a test first asks for it."""
    try:
        server = PostgresServer()
    except PostgresMissing as error:
        if os.environ.get("LAMBDAGRAM_REQUIRE_REDIS") == "1":  # make test: every server it needs
            pytest.fail(str(error))
        pytest.skip(str(error))
    with server:
        yield server


@pytest.fixture
def durable_redis() -> Iterator[RedisServer]:
    """A redis-server of this test's own, with the append-only file on: `stop` then
    `start` keeps its data, as a managed Redis keeps it through a failover."""
    with RedisServer(persistent=True) as server:
        yield server


@pytest.fixture
def redis_client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """A plain client to look inside Redis; the database is emptied before each test."""
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    client.flushall()
    yield client
    client.close()


@pytest.fixture(scope="session")
def telegram_server() -> Iterator[FakeTelegram]:
    """The fake Bot API for the whole session."""
    with FakeTelegram() as server:
        yield server


@pytest.fixture
def telegram(telegram_server: FakeTelegram) -> Iterator[FakeTelegram]:
    """The fake Bot API with no calls recorded yet; the failures a test plans end with it
    (a test that only uses ``bot_env`` shares this server too)."""
    telegram_server.clear()
    yield telegram_server
    telegram_server.clear()


@pytest.fixture(scope="session")
def bot_env(redis_server: RedisServer, telegram_server: FakeTelegram) -> dict[str, str]:
    """The environment of a deployed function, pointed at the local servers."""
    return {
        "BOT_TOKEN": TOKEN,
        "WEBHOOK_SECRET": SECRET,
        "REDIS_URL": redis_server.url,
        "TELEGRAM_API_URL": telegram_server.url,
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "LAMBDAGRAM_APP": f"{FORM_BOT}:app",  # what the Lambda processes the tests start run
    }


def import_handler(module: str = FORM_BOT) -> ModuleType:
    """Import a composition root afresh, as a new Lambda instance does at cold start.

    Its module-level routers are new objects too (for ``handler``, all of ``bot/`` is
    imported anew), so each import can be configured once, as in a new process.
    """
    package = "bot" if module == "handler" else module
    for name in list(sys.modules):
        if name in {module, package} or name.startswith(f"{package}."):
            del sys.modules[name]
    return importlib.import_module(module)


def close_handler(module: ModuleType) -> None:
    """Close the pools a handler module opened."""
    ensure_event_loop().run_until_complete(module.app.close())


def handler_client(
    env: dict[str, str],
    telegram: FakeTelegram,
    monkeypatch: pytest.MonkeyPatch,
    module: str = FORM_BOT,
) -> Iterator[WebhookClient]:
    """A client of a handler freshly imported with ``env``; its pools closed afterwards."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    module_ = import_handler(module)
    yield WebhookClient(module_.handler, SECRET, telegram)
    close_handler(module_)


@pytest.fixture
def composition_root() -> str:
    """The module whose ``app`` and ``handler`` the tests talk to (overridden in tests/bot)."""
    return FORM_BOT


@pytest.fixture
def lambda_handler(
    bot_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    redis_client: redis.Redis,
    composition_root: str,
) -> Iterator[ModuleType]:
    """The composition root, imported with ``bot_env`` on a clean Redis."""
    for name, value in bot_env.items():
        monkeypatch.setenv(name, value)
    module = import_handler(composition_root)
    yield module
    close_handler(module)


@pytest.fixture
def make_client(
    bot_env: dict[str, str], telegram: FakeTelegram, redis_client: redis.Redis
) -> Iterator[Callable[..., WebhookClient]]:
    """``make_client(setup, **env)``: a client of a bot made in the test itself.

    ``setup`` is what a bot hands to `Lambdagram`: a ``configure(dp)`` or a Dispatcher.
    """
    apps: list[Lambdagram] = []

    def make(setup: Any, default: Any = None, **env: str) -> WebhookClient:
        app = Lambdagram(setup, default=default, environ={**bot_env, **env})
        apps.append(app)
        return WebhookClient(app.lambda_handler, SECRET, telegram)

    yield make
    for app in apps:
        ensure_event_loop().run_until_complete(app.close())


@pytest.fixture(params=SHAPES)
def shape(request: pytest.FixtureRequest) -> Shape:
    """Each real Lambda event shape in turn: Function URL, HTTP API v2, REST API v1."""
    value: Shape = request.param
    return value


@pytest.fixture
def client(lambda_handler: ModuleType, telegram: FakeTelegram, shape: Shape) -> WebhookClient:
    """A client sending updates to ``handler.handler`` in each event shape."""
    return WebhookClient(lambda_handler.handler, SECRET, telegram, shape)


@pytest.fixture
def redis_server_url(redis_server: RedisServer, redis_client: redis.Redis) -> str:
    """The URL of the session's redis-server, emptied for this test."""
    return redis_server.url


@pytest.fixture
def run() -> Callable[[Coroutine[Any, Any, T]], T]:
    """Run a coroutine to completion on the session's event loop."""
    loop = ensure_event_loop()

    def runner(coroutine: Coroutine[Any, Any, T]) -> T:
        return loop.run_until_complete(coroutine)

    return runner


@pytest.fixture
def async_redis(
    redis_server: RedisServer, redis_client: redis.Redis, run: Callable[..., Any]
) -> Iterator[AsyncRedis]:
    """An asyncio client on the session's loop (for testing the Redis protocols directly)."""
    client = AsyncRedis.from_url(redis_server.url)
    yield client
    run(client.aclose())
