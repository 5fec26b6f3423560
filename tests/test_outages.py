"""Redis outages: fail fast with 503, write nothing partial, continue once Redis is back."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
import redis

from lambdagram.local.events import Shape, message_update
from lambdagram.local.fake_telegram import FakeTelegram
from lambdagram.local.redis_server import RedisServer

from tests.conftest import FORM_BOT, handler_client
from tests.support.webhook import Reply, WebhookClient

STATE_KEY = "fsm:{123456789:1001}:1001:state"
DATA_KEY = "fsm:{123456789:1001}:1001:data"


@pytest.fixture
def shape() -> Shape:
    return "function_url"


@pytest.fixture
def outage_client(
    durable_redis: RedisServer,
    bot_env: dict[str, str],
    telegram: FakeTelegram,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> Iterator[WebhookClient]:
    """The test bot on its own Redis with short timeouts (``LOCK_TTL`` 1 s, unless a test
    marks itself ``default_lock_ttl``: a stall longer than it would expire the lock)."""
    env = {**bot_env, "REDIS_URL": durable_redis.url, "REDIS_TIMEOUT": "0.5", "LOCK_TTL": "1"}
    if request.node.get_closest_marker("default_lock_ttl"):
        del env["LOCK_TTL"]
    yield from handler_client(env, telegram, monkeypatch)


@pytest.fixture
def outage_bot(outage_client: WebhookClient) -> ModuleType:
    """The test bot module behind ``outage_client`` (to add a middleware to its Dispatcher)."""
    return sys.modules[FORM_BOT]


def deliver(client: WebhookClient, update: dict[str, Any], attempts: int = 40) -> Reply:
    """Deliver ``update`` the way Telegram does: again after any non-2xx answer."""
    for _ in range(attempts):
        reply = client.post(update)
        if reply.status == 200:
            return reply
        time.sleep(0.1)
    pytest.fail(f"update {update['update_id']} was never accepted: last {reply.status}")


def test_redis_down_answers_503_and_the_dialog_continues_after_it_is_back(
    outage_client: WebhookClient, durable_redis: RedisServer
) -> None:
    client = outage_client
    client.say("/start")
    client.say("Ada")

    # Given Redis goes away in the middle of the form
    durable_redis.stop()
    age = message_update("36")

    # When the next message arrives, Telegram is told to retry, with the reason
    down = client.post(age)
    assert down.status == 503
    assert down.body["error"] == "storage_unavailable"
    assert "Redis is unavailable" in down.body["description"]
    assert down.api_calls == []

    # Then, once Redis is back, Telegram's retry of the same update continues the dialog
    durable_redis.start()
    assert "about yourself" in deliver(client, age).text
    summary = client.say("/skip").texts[0]
    assert "Name: Ada" in summary
    assert "Age: 36" in summary


def test_a_hung_redis_times_out_into_503_instead_of_running_out_the_clock(
    outage_client: WebhookClient, durable_redis: RedisServer
) -> None:
    client = outage_client
    client.say("/start")
    assert durable_redis.process is not None
    os.kill(durable_redis.process.pid, signal.SIGSTOP)
    try:
        reply = client.say("Ada")
    finally:
        os.kill(durable_redis.process.pid, signal.SIGCONT)

    assert reply.status == 503
    assert "Timeout" in reply.body["description"]


def test_redis_failing_in_the_middle_of_a_handler_writes_nothing(
    outage_client: WebhookClient,
    durable_redis: RedisServer,
    outage_bot: ModuleType,
) -> None:
    client = outage_client
    client.say("/start")
    outage = {"now": True}

    async def redis_dies_after_the_handler(handler: Any, event: Any, data: Any) -> Any:
        result = await handler(event, data)  # the name step wrote name + next state
        if outage["now"]:
            durable_redis.stop()  # before anything is committed
        return result

    outage_bot.dp.message.middleware(redis_dies_after_the_handler)
    name = message_update("Ada")

    assert client.post(name).status == 503

    outage["now"] = False
    durable_redis.start()
    inspect = redis.Redis.from_url(durable_redis.url, decode_responses=True)
    try:
        assert inspect.get(STATE_KEY) == "Form:name"  # not half a step
        assert inspect.get(DATA_KEY) is None
        assert "Nice to meet you" in deliver(client, name).text
        assert json.loads(inspect.get(DATA_KEY) or "{}") == {"name": "Ada"}
    finally:
        inspect.close()


def stall(server: RedisServer, seconds: float) -> threading.Timer:
    """Freeze redis-server now (SIGSTOP) and let it go on after ``seconds`` (SIGCONT)."""
    assert server.process is not None
    pid = server.process.pid
    os.kill(pid, signal.SIGSTOP)
    resume = threading.Timer(seconds, os.kill, (pid, signal.SIGCONT))
    resume.start()
    return resume


@pytest.mark.default_lock_ttl
def test_a_commit_redis_ran_after_the_client_gave_up_still_delivers_its_reply(
    outage_client: WebhookClient, durable_redis: RedisServer
) -> None:
    client = outage_client
    client.say("/start")
    stalls = {"left": 1}

    async def redis_stalls_at_the_commit(handler: Any, event: Any, data: Any) -> Any:
        result = await handler(event, data)
        if stalls["left"]:
            stalls["left"] -= 1
            stall(durable_redis, 1.2)  # longer than the client's timeout and its retry
        return result

    sys.modules[FORM_BOT].dp.message.middleware(redis_stalls_at_the_commit)

    # When Redis freezes during the commit and runs it only after the client gave up on it
    reply = client.say("Ada")

    # Then the step is recognised as committed: its reply is delivered, with the state moved on
    assert reply.status == 200, reply.body
    assert "Nice to meet you" in reply.text
    inspect = redis.Redis.from_url(durable_redis.url, decode_responses=True)
    try:
        assert inspect.get(STATE_KEY) == "Form:age"
    finally:
        inspect.close()


@pytest.mark.default_lock_ttl
def test_a_claim_redis_ran_after_the_client_gave_up_is_recognised_as_ours(
    outage_client: WebhookClient, durable_redis: RedisServer
) -> None:
    client = outage_client
    client.say("/start")

    # When Redis freezes as an update comes, and runs its claim only after the client gave up
    resume = stall(durable_redis, 1.2)
    reply = client.say("Ada")
    resume.join()

    # Then it is not taken for another invocation's claim (409): the update runs
    assert reply.status == 200, reply.body
    assert "Nice to meet you" in reply.text
