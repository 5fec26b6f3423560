"""Broadcasts: started by a handler, sent by the worker at the bot's pace, once per recipient.

Real parts: redis-server, the fake Bot API (here with Telegram's flood control: 429 with
``retry_after`` past 30 messages a second, and chats that blocked the bot), moto's SQS server
as the long-work queue, Lambda's SQS event in its real shape. The bot is
``tests/support/bots/announcer.py``.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from lambdagram.broadcasts import SENDERS, sender
from lambdagram.local.events import LambdaContext, lambda_event, message_update
from lambdagram.local.fake_telegram import FakeTelegram
from lambdagram.local.lambda_process import LambdaProcess
from lambdagram.local.redis_server import RedisServer
from lambdagram.testing import BotUnderTest
from lambdagram.timers import Target, job_event

from tests.conftest import SECRET, TOKEN, close_handler, handler_client, import_handler
from tests.support.sqs import CREDENTIALS, REGION, FifoQueue, MotoServer, sqs_client
from tests.support.webhook import WebhookClient

BOT = "tests.support.bots.announcer"
ADMIN = 1001


@pytest.fixture
def queue(moto: MotoServer) -> FifoQueue:
    moto.reset()
    return FifoQueue.create(sqs_client(moto.url), visibility=2)


@pytest.fixture
def cast_env(bot_env: dict[str, str], moto: MotoServer, queue: FifoQueue) -> dict[str, str]:
    return {
        **bot_env,
        **CREDENTIALS,
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL_SQS": moto.url,
        "LONG_WORK_QUEUE_URL": queue.url,
        "BROADCAST_RATE": "200",
    }


@pytest.fixture
def bot(
    cast_env: dict[str, str],
    telegram: FakeTelegram,
    monkeypatch: pytest.MonkeyPatch,
    redis_client: redis.Redis,
) -> Iterator[WebhookClient]:
    yield from handler_client(cast_env, telegram, monkeypatch, BOT)


def work_until_empty(
    bot: WebhookClient, queue: FifoQueue, timeout_ms: int = 60_000, patience: float = 60.0
) -> int:
    """Worker invocations in this process until the queue is empty (each with a new
    context: its time left counts from its own start)."""

    def invoke(event: dict[str, Any]) -> dict[str, Any]:
        return bot.handler(event, LambdaContext(timeout_ms=timeout_ms))

    return drain(queue, invoke, patience)


def drain(
    queue: FifoQueue, invoke: Callable[[dict[str, Any]], dict[str, Any]], patience: float = 60.0
) -> int:
    """Invocations of the worker with the queue's batches, each settled, as the event source
    mapping makes them, until the queue holds nothing, visible or taken (a killed worker's
    round comes back once its visibility timeout has passed)."""
    invocations, deadline = 0, time.monotonic() + patience
    while time.monotonic() < deadline:
        event = queue.receive(10, wait=1)
        if not event["Records"]:
            if not queue.holds():
                return invocations
            continue
        queue.settle(event, invoke(event))
        invocations += 1
    pytest.fail("the queue did not empty")


def received(telegram: FakeTelegram, text: str) -> collections.Counter[int]:
    """How many times each chat got ``text`` (calls Telegram took, not refused ones)."""
    return collections.Counter(
        int(call.params["chat_id"])
        for call in telegram.calls_to("sendMessage")
        if call.result is not None and call.params.get("text") == text
    )


def marks_of(redis_client: redis.Redis) -> dict[str, str]:
    """The one broadcast's recipient marks: chat id to ``i:<run>`` or its outcome."""
    [key] = redis_client.scan_iter("lg:*:marks")
    return {str(chat): str(mark) for chat, mark in redis_client.hgetall(key).items()}


def started_id(reply_texts: list[str]) -> str:
    [line] = [t for t in reply_texts if t.startswith("Broadcast ")]
    return line.split()[1]


def test_an_announcement_reaches_every_recipient_once(
    bot: WebhookClient, queue: FifoQueue, telegram: FakeTelegram
) -> None:
    reply = bot.say("/announce 2001-2150 Hello all", chat_id=ADMIN)

    broadcast = started_id(reply.texts)
    assert [b["broadcast"]["id"] for b in queue.bodies()] == [broadcast]
    work_until_empty(bot, queue)
    got = received(telegram, "Hello all")
    assert sorted(got) == list(range(2001, 2151))
    assert set(got.values()) == {1}
    status = bot.say(f"/progress {broadcast}", chat_id=ADMIN)
    assert (
        f"{broadcast} done: 150 sent, 0 failed, 0 skipped, 0 unconfirmed, 0 left"
        in (status.texts[0])
    )


def test_the_update_delivered_again_starts_no_second_broadcast(
    bot: WebhookClient, queue: FifoQueue, telegram: FakeTelegram
) -> None:
    update = message_update("/announce 3001-3020 Once", chat_id=ADMIN)
    first = bot.post(update)
    telegram_retry = bot.post(update)

    assert telegram_retry.status == 200
    assert len(queue.bodies()) == 1
    work_until_empty(bot, queue)
    assert set(received(telegram, "Once").values()) == {1}
    assert started_id(first.texts)


def test_a_round_delivered_twice_sends_nobody_a_second_message(
    bot: WebhookClient, queue: FifoQueue, telegram: FakeTelegram
) -> None:
    reply = bot.say("/announce 4001-4040 Twice?", chat_id=ADMIN)
    broadcast = started_id(reply.texts)
    body = json.dumps({"broadcast": {"id": broadcast, "round": 0}}, separators=(",", ":"))
    queue.client.send_message(  # SQS's at-least-once: the same round once more
        QueueUrl=queue.url,
        MessageBody=body,
        MessageGroupId=f"bc-{broadcast}",
        MessageDeduplicationId="redelivered",
    )

    work_until_empty(bot, queue)

    got = received(telegram, "Twice?")
    assert len(got) == 40
    assert set(got.values()) == {1}


def test_telegrams_flood_control_is_honoured_and_nobody_is_missed(
    bot: WebhookClient, queue: FifoQueue, telegram: FakeTelegram
) -> None:
    telegram.limit(30, flood_chance=0.05, retry_after=1)

    reply = bot.say("/announce 5001-5060 Paced", chat_id=ADMIN)
    work_until_empty(bot, queue)

    assert telegram.floods > 0  # Telegram said "retry after 1" and the sender waited it out
    got = received(telegram, "Paced")
    assert sorted(got) == list(range(5001, 5061))
    assert set(got.values()) == {1}
    status = bot.say(f"/progress {started_id(reply.texts)}", chat_id=ADMIN)
    assert "60 sent, 0 failed" in status.texts[0]


def test_chats_that_blocked_the_bot_are_recorded_and_skipped_next_time(
    bot: WebhookClient, queue: FifoQueue, telegram: FakeTelegram
) -> None:
    telegram.block(6003, 6007)

    first = started_id(bot.say("/announce 6001-6010 One", chat_id=ADMIN).texts)
    work_until_empty(bot, queue)
    second = started_id(bot.say("/announce 6001-6010 Two", chat_id=ADMIN).texts)
    work_until_empty(bot, queue)

    assert sorted(received(telegram, "Two")) == [6001, 6002, 6004, 6005, 6006, 6008, 6009, 6010]
    tried = [int(c.params["chat_id"]) for c in telegram.calls_to("sendMessage")]
    assert tried.count(6003) == 1  # refused once with 403, never tried again
    one = bot.say(f"/progress {first}", chat_id=ADMIN).texts[0]
    two = bot.say(f"/progress {second}", chat_id=ADMIN).texts[0]
    assert "8 sent, 2 failed, 0 skipped" in one
    assert "8 sent, 0 failed, 2 skipped" in two


def test_a_cancelled_broadcast_sends_no_more(
    bot: WebhookClient, queue: FifoQueue, telegram: FakeTelegram
) -> None:
    broadcast = started_id(bot.say("/announce 7001-7030 Never", chat_id=ADMIN).texts)

    stopped = bot.say(f"/stop {broadcast}", chat_id=ADMIN)
    work_until_empty(bot, queue)

    assert f"{broadcast} cancelled: 0 sent" in stopped.texts[0]
    assert received(telegram, "Never") == collections.Counter()


def test_a_long_broadcast_goes_on_in_rounds_before_each_workers_timeout(
    bot: WebhookClient,
    queue: FifoQueue,
    telegram: FakeTelegram,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("lambdagram.broadcasts.RESERVE", 0.5)
    monkeypatch.setattr("lambdagram.broadcasts.SLICE", 5)
    telegram.hang("sendMessage", 0.05)  # each send takes a while: one round cannot do them all
    bot.say("/announce 8001-8080 Rounds", chat_id=ADMIN)

    invocations = work_until_empty(bot, queue, timeout_ms=2_000)

    assert invocations > 1
    rounds = {
        json.loads(r["body"])["broadcast"]["round"] for b in queue.batches for r in b["Records"]
    }
    assert len(rounds) == invocations  # each invocation a round of its own, in turn
    got = received(telegram, "Rounds")
    assert len(got) == 80
    assert set(got.values()) == {1}


def test_a_copy_of_the_admins_message_goes_out_as_copy_message(
    bot: WebhookClient, queue: FifoQueue, telegram: FakeTelegram
) -> None:
    original = message_update("Big news", chat_id=ADMIN, extra={"message_id": 77})["message"]
    bot.say("/forward 9001-9003", chat_id=ADMIN, extra={"reply_to_message": original})

    work_until_empty(bot, queue)

    copies = telegram.calls_to("copyMessage")
    assert sorted(int(c.params["chat_id"]) for c in copies) == [9001, 9002, 9003]
    assert {(str(c.params["from_chat_id"]), str(c.params["message_id"])) for c in copies} == {
        (str(ADMIN), "77")
    }


def test_a_worker_killed_midway_leaves_nobody_messaged_twice_and_says_who_is_unconfirmed(
    cast_env: dict[str, str], queue: FifoQueue, telegram: FakeTelegram, redis_client: redis.Redis
) -> None:
    env = {**cast_env, "LAMBDAGRAM_APP": f"{BOT}:app", "BROADCAST_RATE": "50"}
    webhook = LambdaProcess(env, quiet=True)
    update = message_update("/announce 10001-10100 Survive", chat_id=ADMIN)
    assert webhook.invoke(lambda_event(update, secret=SECRET))["statusCode"] == 200
    worker = LambdaProcess(env, quiet=True)
    worker.start(queue.receive(10))
    deadline = time.monotonic() + 60
    while len(received(telegram, "Survive")) < 30 and time.monotonic() < deadline:
        time.sleep(0.01)
    worker.kill()  # SIGKILL mid-broadcast, as Lambda's timeout or a crash does
    worker.close()
    assert len(received(telegram, "Survive")) < 100

    second = LambdaProcess(env, quiet=True)
    try:
        drain(queue, second.invoke)  # the killed worker's round too, once it is visible again
    finally:
        second.close()
        webhook.close()

    got = received(telegram, "Survive")
    assert set(got.values()) == {1}  # nobody twice
    marks = marks_of(redis_client)
    unconfirmed = {int(chat) for chat, mark in marks.items() if mark.startswith("i:")}
    assert len(unconfirmed) <= 8  # at most the sends in flight when it died
    assert set(range(10001, 10101)) - set(got) <= unconfirmed  # a miss is always reported


def test_the_cli_starts_a_broadcast_from_a_file_and_reports_its_progress(
    cast_env: dict[str, str],
    queue: FifoQueue,
    telegram: FakeTelegram,
    redis_client: redis.Redis,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recipients = tmp_path / "subscribers.txt"
    recipients.write_text("# our subscribers\n11001\n11002\n\n11003  # the third\n11002\n")
    env = {**cast_env, "LAMBDAGRAM_APP": f"{BOT}:app"}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "lambdagram", "broadcast", *args],
            env={**env, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    started = cli("start", "--to", str(recipients), "--text", "From the terminal")
    assert started.returncode == 0, started.stderr
    assert "ready: 0 sent, 0 failed, 0 skipped, 0 unconfirmed, 3 left of 3" in started.stdout
    broadcast = started.stdout.split()[1]
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    module = import_handler(BOT)
    try:
        work_until_empty(WebhookClient(module.handler, SECRET, telegram), queue)
    finally:
        close_handler(module)

    assert sorted(received(telegram, "From the terminal")) == [11001, 11002, 11003]
    status = cli("status", broadcast)
    assert f"{broadcast} done: 3 sent" in status.stdout
    listed = cli("status")
    assert broadcast in listed.stdout


def test_the_cli_names_the_line_that_is_not_a_chat_id(
    cast_env: dict[str, str], tmp_path: Path, redis_client: redis.Redis
) -> None:
    recipients = tmp_path / "subscribers.txt"
    recipients.write_text("11001\n@channel\n")

    command = ["broadcast", "start", "--to", str(recipients), "--text", "Hi"]
    result = subprocess.run(
        [sys.executable, "-m", "lambdagram", *command],
        env={**cast_env, "LAMBDAGRAM_APP": f"{BOT}:app", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 1
    assert f"error: {recipients}:2: '@channel' is not a chat id" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_operator_starts_one_through_the_deployed_function_as_make_broadcast_does(
    bot: WebhookClient, queue: FifoQueue, telegram: FakeTelegram, tmp_path: Path
) -> None:
    """``make broadcast``: the CLI prints the request as an internal event (no Redis needed
    where it runs), and the function, invoked with it, starts the broadcast and answers."""
    recipients = tmp_path / "chats.txt"
    recipients.write_text("12001\n12002\n")
    printed = subprocess.run(
        [
            sys.executable,
            "-m",
            "lambdagram",
            "broadcast",
            "start",
            "--to",
            str(recipients),
            "--text",
            "Via the function",
            "--payload",
        ],
        env={"LAMBDAGRAM_APP": f"{BOT}:app", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )

    answer = bot.handler(json.loads(printed.stdout), LambdaContext())
    work_until_empty(bot, queue)
    listed = bot.handler({"lambdagram": {"broadcast": {"action": "status"}}}, LambdaContext())
    wrong = bot.handler({"lambdagram": {"broadcast": {"action": "cancel"}}}, LambdaContext())

    assert answer["ok"] is True
    assert answer["lines"][0].startswith("started cli")
    assert sorted(received(telegram, "Via the function")) == [12001, 12002]
    assert "done: 2 sent" in listed["lines"][0]
    assert wrong["ok"] is False
    assert "start, status, cancel or resend-unconfirmed (those two" in wrong["description"]


def test_a_scheduled_job_may_start_a_broadcast_a_daily_digest_say(
    bot: WebhookClient, queue: FifoQueue, telegram: FakeTelegram
) -> None:
    fired = job_event("digest", "c1001-u1-1", Target(ADMIN), {"to": "13001-13005"})
    fired["lambdagram"]["job"]["at"] = "2026-12-02T09:00:00Z"  # Scheduler fills it in

    done = bot.handler(fired, LambdaContext())
    again = bot.handler(fired, LambdaContext())  # Scheduler delivers at least once
    work_until_empty(bot, queue)

    assert done == {"ok": True, "job": "digest"}
    assert again.get("duplicate") is True
    got = received(telegram, "Today's digest")
    assert sorted(got) == list(range(13001, 13006))
    assert set(got.values()) == {1}


def test_two_workers_on_the_same_round_at_once_send_nobody_a_message_twice(
    cast_env: dict[str, str], queue: FifoQueue, telegram: FakeTelegram, redis_client: redis.Redis
) -> None:
    """A worker slower than the queue's visibility timeout: SQS hands its round to a second
    worker while the first still sends. Both go through the same recipients at once."""
    env = {**cast_env, "LAMBDAGRAM_APP": f"{BOT}:app", "BROADCAST_RATE": "100"}
    webhook = LambdaProcess(env, quiet=True)
    update = message_update("/announce 14001-14060 Both", chat_id=ADMIN)
    assert webhook.invoke(lambda_event(update, secret=SECRET))["statusCode"] == 200
    [round_] = queue.receive(10)["Records"]
    event = {"Records": [round_]}
    first, second = LambdaProcess(env, quiet=True), LambdaProcess(env, quiet=True)
    try:
        first.start(event)
        second.start(event)
        answers = [first.answer(), second.answer()]
    finally:
        for process in (webhook, first, second):
            process.close()

    assert all(a["batchItemFailures"] == [] for a in answers)
    got = received(telegram, "Both")
    assert sorted(got) == list(range(14001, 14061))
    assert set(got.values()) == {1}


@pytest.fixture
def announcer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAMBDAGRAM_APP", f"{BOT}:app")


def test_the_testing_kit_runs_a_broadcast_and_says_what_each_chat_got(
    announcer: None, telegram_bot: BotUnderTest
) -> None:
    """A bot developer's test of their /announce, with ``lambdagram.testing``."""
    admin = telegram_bot.chat(user_id=ADMIN)

    reply = admin.send("/announce 15001-15003 Kit")

    assert reply.texts == [reply.text]  # only the admin's own chat in its reply
    assert reply.text.startswith("Broadcast u")
    assert [telegram_bot.sent_to(chat) for chat in (15001, 15002, 15003)] == [["Kit"]] * 3


def test_the_owner_may_resend_to_the_unconfirmed_once_the_broadcast_ended(
    bot: WebhookClient, queue: FifoQueue, telegram: FakeTelegram, redis_client: redis.Redis
) -> None:
    """A send without an answer (a timeout) is unconfirmed and never sent again by the
    engine; the owner may choose to (at least once for those), and only those."""
    broadcast = started_id(bot.say("/announce 16001-16002 Maybe", chat_id=ADMIN).texts)
    telegram.hang("sendMessage", 12)  # longer than the Bot API session's 10 s: no answer
    work_until_empty(bot, queue)
    telegram.clear()
    ask = {"lambdagram": {"broadcast": {"action": "status", "id": broadcast}}}
    assert (
        "0 sent, 0 failed, 0 skipped, 2 unconfirmed"
        in bot.handler(ask, LambdaContext())["lines"][0]
    )

    resend = {"lambdagram": {"broadcast": {"action": "resend-unconfirmed", "id": broadcast}}}
    answer = bot.handler(resend, LambdaContext())
    work_until_empty(bot, queue)

    assert answer["lines"][0] == "2 unconfirmed recipient(s) to be sent again"
    assert sorted(received(telegram, "Maybe")) == [16001, 16002]
    assert (
        "2 sent, 0 failed, 0 skipped, 0 unconfirmed"
        in bot.handler(ask, LambdaContext())["lines"][0]
    )


def test_each_method_a_broadcast_sends_is_named_as_the_bot_api_names_it() -> None:
    assert len(SENDERS) == 14
    assert all(sender(name).__api_method__ == name for name in SENDERS)


# ---- Under faults: what a stall, a bad answer or an owner's resend must not break ----------


def status_of(bot: WebhookClient, broadcast: str) -> str:
    ask = {"lambdagram": {"broadcast": {"action": "status", "id": broadcast}}}
    return str(bot.handler(ask, LambdaContext())["lines"][0])


def ask(bot: WebhookClient, action: str, broadcast: str) -> dict[str, Any]:
    event = {"lambdagram": {"broadcast": {"action": action, "id": broadcast}}}
    return bot.handler(event, LambdaContext())


def test_resending_the_unconfirmed_of_a_cancelled_broadcast_spares_those_the_cancel_spared(
    bot: WebhookClient,
    cast_env: dict[str, str],
    queue: FifoQueue,
    telegram: FakeTelegram,
    redis_client: redis.Redis,
) -> None:
    env = {**cast_env, "LAMBDAGRAM_APP": f"{BOT}:app", "BROADCAST_RATE": "50"}
    broadcast = started_id(bot.say("/announce 17001-17200 Spared?", chat_id=ADMIN).texts)
    telegram.hang("sendMessage", 0.3)  # sends on the wire when it is killed: unconfirmed
    worker = LambdaProcess(env, quiet=True)
    worker.start(queue.receive(10))
    deadline = time.monotonic() + 60
    while len(received(telegram, "Spared?")) < 30 and time.monotonic() < deadline:
        time.sleep(0.01)
    worker.kill()  # mid-round: its sends in flight are unconfirmed
    worker.close()
    assert "cancelled" in ask(bot, "cancel", broadcast)["lines"][0]
    work_until_empty(bot, queue)  # the killed round comes back and finds it cancelled
    before = set(received(telegram, "Spared?"))
    marks = marks_of(redis_client)
    unsure = {int(chat) for chat, mark in marks.items() if mark.startswith("i:")}
    assert len(before) < 200
    assert unsure  # what the owner resends
    telegram.clear()
    before = before - unsure  # their answers never came back: not counted as received

    answer = ask(bot, "resend-unconfirmed", broadcast)
    work_until_empty(bot, queue)

    assert answer["lines"][0] == f"{len(unsure)} unconfirmed recipient(s) to be sent again"
    after = received(telegram, "Spared?")
    assert set(after) == unsure  # again to the unconfirmed; those the cancel spared got nothing
    assert set(after.values()) == {1}
    assert status_of(bot, broadcast).startswith(f"{broadcast} cancelled:")
    assert f"{200 - len(marks)} left of 200" in status_of(bot, broadcast)


@pytest.fixture
def stalling_bot(
    cast_env: dict[str, str],
    durable_redis: RedisServer,
    telegram: FakeTelegram,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[WebhookClient]:
    """The announcer on a Redis of its own that the test may freeze (``REDIS_TIMEOUT`` 0.5 s)."""
    env = {**cast_env, "REDIS_URL": durable_redis.url, "REDIS_TIMEOUT": "0.5"}
    yield from handler_client(env, telegram, monkeypatch, BOT)


def test_redis_stalls_during_a_broadcast_lose_nobody_and_count_each_send_once(
    stalling_bot: WebhookClient,
    durable_redis: RedisServer,
    queue: FifoQueue,
    telegram: FakeTelegram,
) -> None:
    """A stall longer than ``REDIS_TIMEOUT`` and shorter than its retry: Redis runs a marking
    or counting command after the client gave up on it, and again for the client's retry."""
    bot = stalling_bot
    broadcast = started_id(bot.say("/announce 18001-18150 Stalled", chat_id=ADMIN).texts)
    assert durable_redis.process is not None
    pid = durable_redis.process.pid

    def stalls() -> None:
        for _ in range(4):
            time.sleep(0.4)
            os.kill(pid, signal.SIGSTOP)
            time.sleep(0.75)
            os.kill(pid, signal.SIGCONT)

    freezer = threading.Thread(target=stalls)
    freezer.start()
    try:
        work_until_empty(bot, queue)
    finally:
        freezer.join()
        os.kill(pid, signal.SIGCONT)

    got = received(telegram, "Stalled")
    assert sorted(got) == list(range(18001, 18151))
    assert set(got.values()) == {1}
    assert "done: 150 sent, 0 failed, 0 skipped, 0 unconfirmed, 0 left" in status_of(
        bot, broadcast
    )


@pytest.mark.parametrize(
    ("times", "raw", "outcome"),
    [
        (2, True, "sent:"),
        (None, True, "failed:not the Bot API's answer"),
        (None, False, "failed:5xx Internal Server Error"),
    ],
    ids=["proxy-page-twice", "proxy-page-always", "5xx-always"],
)
def test_a_5xx_or_a_proxys_page_is_retried_then_failed_and_the_round_goes_on(
    bot: WebhookClient,
    queue: FifoQueue,
    telegram: FakeTelegram,
    redis_client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
    times: int | None,
    raw: bool,
    outcome: str,
) -> None:
    """Nothing reached Telegram: tried three times more, then failed; nobody else is held
    up or left unsure."""
    monkeypatch.setattr("lambdagram.broadcasts.SERVER_RETRIES", (0.05, 0.05, 0.05))
    broadcast = started_id(bot.say("/announce 19001-19040 Whatever", chat_id=ADMIN).texts)
    if raw:
        telegram.fail_raw(
            "sendMessage", 502, "<html>Bad Gateway</html>", chats=[19003], times=times
        )
    else:
        telegram.fail("sendMessage", 500, "Internal Server Error", chats=[19003], times=times)

    work_until_empty(bot, queue)

    got = received(telegram, "Whatever")
    assert set(got.values()) == {1}
    sent = outcome == "sent:"
    assert set(range(19001, 19041)) - set(got) == (set() if sent else {19003})
    counts = "40 sent, 0 failed" if sent else "39 sent, 1 failed"
    assert f"done: {counts}, 0 skipped, 0 unconfirmed, 0 left" in status_of(bot, broadcast)
    marks = marks_of(redis_client)
    assert marks["19003"].startswith(outcome)


@pytest.mark.parametrize(
    ("status", "description", "reason"),
    [
        (413, "Request Entity Too Large", "failed:413"),
        (409, "Conflict: terminated by other request", "failed:409"),
        (400, "Bad Request: message is too long", "failed:400 Bad Request: message is too long"),
    ],
)
def test_a_refusal_fails_its_recipient_alone(
    bot: WebhookClient,
    queue: FifoQueue,
    telegram: FakeTelegram,
    redis_client: redis.Redis,
    status: int,
    description: str,
    reason: str,
) -> None:
    broadcast = started_id(bot.say("/announce 20001-20020 Refused", chat_id=ADMIN).texts)
    telegram.fail("sendMessage", status, description, chats=[20007])

    work_until_empty(bot, queue)

    assert set(range(20001, 20021)) - set(received(telegram, "Refused")) == {20007}
    assert "done: 19 sent, 1 failed, 0 skipped, 0 unconfirmed" in status_of(bot, broadcast)
    marks = marks_of(redis_client)
    assert marks["20007"].startswith(reason)


def test_a_failure_reason_keeps_no_secret(
    bot: WebhookClient, queue: FifoQueue, telegram: FakeTelegram, redis_client: redis.Redis
) -> None:
    """A proxy that echoes the request's URL puts the bot's token in Telegram's reason."""
    bot.say("/announce 21001-21003 Echo", chat_id=ADMIN)
    telegram.fail("sendMessage", 400, f"Bad Request: no route /bot{TOKEN}/sendMessage")

    work_until_empty(bot, queue)

    marks = marks_of(redis_client)
    assert all(mark.startswith("failed:400") for mark in marks.values())
    assert not any(TOKEN.partition(":")[2] in mark for mark in marks.values())


def test_a_refused_token_halts_the_round_and_it_comes_back_with_nobody_lost(
    bot: WebhookClient, queue: FifoQueue, telegram: FakeTelegram
) -> None:
    """A 401 (the token revoked, then restored) or a 404 (a wrong API URL) refuses every send:
    the round stops, the recipients it had started are unmarked, and it comes back later."""
    broadcast = started_id(bot.say("/announce 22001-22030 Back", chat_id=ADMIN).texts)
    telegram.fail("sendMessage", 401, "Unauthorized", times=3)

    invocations = work_until_empty(bot, queue)

    assert invocations >= 2
    got = received(telegram, "Back")
    assert sorted(got) == list(range(22001, 22031))
    assert set(got.values()) == {1}
    assert "done: 30 sent, 0 failed, 0 skipped, 0 unconfirmed, 0 left" in status_of(bot, broadcast)


def test_a_retry_after_longer_than_the_worker_has_left_gives_the_round_back(
    bot: WebhookClient, queue: FifoQueue, telegram: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("lambdagram.broadcasts.RESERVE", 0.5)
    broadcast = started_id(bot.say("/announce 23001-23010 Later", chat_id=ADMIN).texts)
    telegram.fail("sendMessage", 429, "Too Many Requests: retry after 3", retry_after=3, times=1)
    first = queue.receive(10)

    answer = bot.handler(first, LambdaContext(timeout_ms=3_000))  # 3 s cannot wait 3 s out
    queue.settle(first, answer)
    work_until_empty(bot, queue)

    assert [f["itemIdentifier"] for f in answer["batchItemFailures"]] == [
        first["Records"][0]["messageId"]
    ]
    got = received(telegram, "Later")
    assert sorted(got) == list(range(23001, 23011))
    assert set(got.values()) == {1}
    assert "done: 10 sent, 0 failed, 0 skipped, 0 unconfirmed" in status_of(bot, broadcast)


def test_a_chat_that_blocked_the_bot_is_tried_again_after_a_month(
    bot: WebhookClient, queue: FifoQueue, telegram: FakeTelegram, redis_client: redis.Redis
) -> None:
    telegram.block(24002)
    bot.say("/announce 24001-24003 First", chat_id=ADMIN)
    work_until_empty(bot, queue)
    telegram.clear()  # the user unblocked the bot
    [remembered] = redis_client.scan_iter("lg:*:unreachable-at")
    redis_client.zadd(remembered, {"24002": time.time() - 31 * 24 * 3600})  # a month passes

    bot.say("/announce 24001-24003 Second", chat_id=ADMIN)
    work_until_empty(bot, queue)

    assert sorted(received(telegram, "Second")) == [24001, 24002, 24003]


def test_every_key_a_broadcast_writes_expires(
    bot: WebhookClient, queue: FifoQueue, telegram: FakeTelegram, redis_client: redis.Redis
) -> None:
    telegram.block(25002)
    broadcast = started_id(bot.say("/announce 25001-25005 Kept", chat_id=ADMIN).texts)
    work_until_empty(bot, queue)
    telegram.clear()
    ask(bot, "resend-unconfirmed", broadcast)

    keys = [k for k in redis_client.scan_iter("lg:*") if "send-rate" not in k]
    assert len(keys) >= 5  # meta, to, marks, the index, the unreachable
    assert all(0 < redis_client.ttl(key) <= 31 * 24 * 3600 for key in keys), {
        key: redis_client.ttl(key) for key in keys
    }


@pytest.mark.parametrize(
    ("line", "shown"),
    [("1_000", "'1_000'"), ("+5", "'+5'"), ("\u0665", "'\u0665'"), ("1" * 31, "'111")],
    ids=["underscore", "plus", "arabic-indic", "too-large"],
)
def test_the_cli_takes_only_what_telegram_writes_as_a_chat_id(
    cast_env: dict[str, str], tmp_path: Path, line: str, shown: str
) -> None:
    recipients = tmp_path / "subscribers.txt"
    recipients.write_text(f"11001\n{line}\n", encoding="utf-8")

    result = cli_broadcast(cast_env, "start", "--to", str(recipients), "--text", "Hi")

    assert result.returncode == 1
    assert result.stderr.startswith(f"error: {recipients}:2: {shown}")
    assert "Traceback" not in result.stderr


def test_the_cli_says_what_is_wrong_with_a_file_that_is_not_text(
    cast_env: dict[str, str], tmp_path: Path
) -> None:
    recipients = tmp_path / "subscribers.txt"
    recipients.write_bytes(b"11001\n\xff\xfe\n")

    result = cli_broadcast(cast_env, "start", "--to", str(recipients), "--text", "Hi")

    assert result.returncode == 1
    assert result.stderr.startswith(f"error: {recipients}: not UTF-8 text")
    assert "Traceback" not in result.stderr


def test_the_cli_says_redis_cannot_be_reached_without_a_traceback_or_its_password(
    cast_env: dict[str, str],
) -> None:
    env = {
        **cast_env,
        "REDIS_URL": "redis://:hunter2-password@127.0.0.1:1/0",
        "REDIS_TIMEOUT": "1",
    }

    result = cli_broadcast(env, "status")

    assert result.returncode == 1
    assert result.stderr.startswith("error: Redis: ")
    assert "Traceback" not in result.stderr
    assert "hunter2-password" not in result.stderr


def cli_broadcast(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lambdagram", "broadcast", *args],
        env={**env, "LAMBDAGRAM_APP": f"{BOT}:app", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_round_the_queue_gave_up_stops_the_broadcast_so_its_unconfirmed_can_be_resent(
    cast_env: dict[str, str],
    queue: FifoQueue,
    telegram: FakeTelegram,
    monkeypatch: pytest.MonkeyPatch,
    redis_client: redis.Redis,
) -> None:
    """Not `running` for ever with resend-unconfirmed refused: `stopped`, and resendable."""
    dead_letters = "arn:aws:sqs:eu-west-1:123456789012:lambdagram-test-long-work-dead.fifo"
    env = {**cast_env, "LONG_WORK_DEAD_LETTERS_ARN": dead_letters}
    for bot in handler_client(env, telegram, monkeypatch, BOT):
        broadcast = started_id(bot.say("/announce 26001-26005 Late", chat_id=ADMIN).texts)
        taken = queue.receive(10)
        queue.settle(taken, {"batchItemFailures": []})  # SQS moved it to the DLQ
        dead = {"Records": [{**r, "eventSourceARN": dead_letters} for r in taken["Records"]]}

        answer = bot.handler(dead, LambdaContext())
        resend = ask(bot, "resend-unconfirmed", broadcast)

        assert answer == {"batchItemFailures": []}
        assert status_of(bot, broadcast).startswith(f"{broadcast} stopped: 0 sent")
        assert resend["ok"] is True
        assert received(telegram, "Late") == collections.Counter()  # nothing was run from it
