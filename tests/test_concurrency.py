"""Many Lambda instances at once: every dialog completes with its own data, in order.

Each instance is a separate OS process running ``handler.handler`` (one invocation at a
time, as in Lambda). Updates are delivered like Telegram does: a chat's updates one
after another, different chats in parallel, and again after any non-2xx answer.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import redis

from lambdagram.local.events import lambda_event, message_update, response_json
from lambdagram.local.fake_telegram import FakeTelegram
from lambdagram.local.lambda_process import LambdaProcess

from tests.conftest import SECRET

PROCESSES = 4
CHATS = 16
HAMMER = 12

pytestmark = pytest.mark.slow


class Fleet:
    """A pool of Lambda instances; an invocation takes whichever is free."""

    def __init__(self, env: dict[str, str], size: int) -> None:
        with ThreadPoolExecutor(size) as pool:
            self.instances = list(pool.map(lambda _: LambdaProcess(env), range(size)))
        self.free: queue.Queue[LambdaProcess] = queue.Queue()
        for instance in self.instances:
            self.free.put(instance)
        self.statuses: list[int] = []
        self._lock = threading.Lock()

    def deliver(self, update: dict[str, Any]) -> dict[str, Any]:
        """Deliver until a 200, as Telegram retries; the final response body."""
        for _ in range(200):
            instance = self.free.get()
            try:
                response = instance.invoke(lambda_event(update, secret=SECRET))
            finally:
                self.free.put(instance)
            with self._lock:
                assert "statusCode" in response, response
                self.statuses.append(int(response["statusCode"]))
            if response["statusCode"] == 200:
                body = response_json(response)
                assert isinstance(body, dict)
                return body
            time.sleep(0.05)
        pytest.fail(f"update {update['update_id']} was never accepted")

    def close(self) -> None:
        for instance in self.instances:
            instance.close()


@pytest.fixture(scope="module")
def warm_fleet(bot_env: dict[str, str]) -> Iterator[Fleet]:
    fleet = Fleet(bot_env, PROCESSES)
    yield fleet
    fleet.close()


@pytest.fixture
def fleet(warm_fleet: Fleet, redis_client: redis.Redis) -> Fleet:
    """The instances, warm from earlier tests (their pools survive a FLUSHALL)."""
    return warm_fleet


def dialog(chat_id: int) -> list[str]:
    return ["/start", f"Person {chat_id}", str(chat_id % 100 + 1), f"I am chat {chat_id}"]


def test_interleaved_dialogs_of_many_chats_each_complete_with_their_own_data(
    fleet: Fleet, telegram: FakeTelegram, redis_client: redis.Redis
) -> None:
    def talk(chat_id: int) -> list[dict[str, Any]]:
        return [fleet.deliver(message_update(t, chat_id=chat_id)) for t in dialog(chat_id)]

    chats = range(5000, 5000 + CHATS)
    with ThreadPoolExecutor(CHATS) as pool:
        replies = dict(zip(chats, pool.map(talk, chats), strict=True))

    for chat_id in chats:
        texts = [reply.get("text", "") for reply in replies[chat_id]]
        assert "What's your name?" in texts[0]
        assert f"Nice to meet you, <b>Person {chat_id}</b>!" in texts[1]
        assert "about yourself" in texts[2]
        assert texts[3] == "Thanks! Send /start to fill it again."
        summaries = [
            str(call.params["text"])
            for call in telegram.calls_to("sendMessage")
            if call.params.get("chat_id") == str(chat_id)
        ]
        assert len(summaries) == 1, chat_id
        assert f"Name: Person {chat_id}" in summaries[0]
        assert f"Age: {chat_id % 100 + 1}" in summaries[0]
        assert f"About: I am chat {chat_id}" in summaries[0]
    assert redis_client.keys("fsm:*") == []
    assert redis_client.keys("lg:*lock") == []


def test_a_hammered_chat_is_served_one_update_at_a_time_and_loses_nothing(
    fleet: Fleet, redis_client: redis.Redis
) -> None:
    # Given a chat waiting for a name
    fleet.deliver(message_update("/start", chat_id=777))

    # When many messages of that chat hit every instance at once
    updates = [message_update(f"Name{i}", chat_id=777) for i in range(HAMMER)]
    with ThreadPoolExecutor(HAMMER) as pool:
        bodies = list(pool.map(fleet.deliver, updates))

    # Then exactly one was taken as the name, and every other one was answered in the
    # next step (as an invalid age): no lost update, no two handlers on the same state
    texts = [body["text"] for body in bodies]
    named = [t for t in texts if "Nice to meet you" in t]
    assert len(named) == 1
    assert sum("must be a whole number" in t for t in texts) == HAMMER - 1
    assert redis_client.get("fsm:{123456789:777}:777:state") == "Form:age"
    data = json.loads(redis_client.get("fsm:{123456789:777}:777:data") or "{}")
    assert f"<b>{data['name']}</b>" in named[0]


def test_concurrent_duplicates_of_one_update_have_exactly_one_effect(
    fleet: Fleet, telegram: FakeTelegram, redis_client: redis.Redis
) -> None:
    fleet.deliver(message_update("/start", chat_id=888))
    name = message_update("Ada", chat_id=888)

    with ThreadPoolExecutor(PROCESSES) as pool:
        bodies = list(pool.map(fleet.deliver, [name] * PROCESSES))

    effects = [b for b in bodies if "Nice to meet you" in b.get("text", "")]
    duplicates = [b for b in bodies if b == {"ok": True, "duplicate": True}]
    assert len(effects) == 1
    assert len(duplicates) == PROCESSES - 1
    assert redis_client.get("fsm:{123456789:888}:888:state") == "Form:age"
