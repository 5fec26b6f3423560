"""Long handlers: the webhook queues them, the worker runs them exactly once, in chat order.

Real parts: redis-server, the fake Bot API, moto's SQS server (a FIFO queue over HTTP), and
Lambda's SQS event in its real shape, received from that queue as the event source mapping
does. The bot is ``tests/support/bots/long.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from lambdagram.deadletter import deadletter_key
from lambdagram.local.events import (
    LambdaContext,
    callback_update,
    lambda_event,
    message_update,
)
from lambdagram.local.fake_telegram import FakeTelegram
from lambdagram.local.lambda_process import LambdaProcess
from lambdagram.timers import Target, job_event

from tests.conftest import SECRET, handler_client
from tests.support.sqs import CREDENTIALS, REGION, FifoQueue, MotoServer, sqs_client
from tests.support.webhook import WebhookClient

LONG_BOT = "tests.support.bots.long"
BOT_ID = 123456789
DEAD_LETTERS_ARN = "arn:aws:sqs:eu-west-1:123456789012:lambdagram-test-long-work-dead.fifo"


@pytest.fixture
def queue(moto: MotoServer) -> FifoQueue:
    moto.reset()
    return FifoQueue.create(sqs_client(moto.url))


@pytest.fixture
def long_env(bot_env: dict[str, str], moto: MotoServer, queue: FifoQueue) -> dict[str, str]:
    return {
        **bot_env,
        **CREDENTIALS,
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL_SQS": moto.url,
        "LONG_WORK_QUEUE_URL": queue.url,
        "LONG_WORK_DEAD_LETTERS_ARN": DEAD_LETTERS_ARN,
    }


@pytest.fixture
def bot(
    long_env: dict[str, str],
    telegram: FakeTelegram,
    monkeypatch: pytest.MonkeyPatch,
    redis_client: redis.Redis,
) -> Iterator[WebhookClient]:
    yield from handler_client(long_env, telegram, monkeypatch, LONG_BOT)


def work(bot: WebhookClient, queue: FifoQueue, most: int = 10) -> dict[str, Any]:
    """One worker invocation: a batch received from the queue, settled as Lambda settles it."""
    event = queue.receive(most)
    assert event["Records"], "the queue had nothing to run"
    response = bot.handler(event, LambdaContext(timeout_ms=60_000))
    queue.settle(event, response)
    return response


def replay_dead_letters(env: dict[str, str]) -> str:
    """``python -m lambdagram deadletter replay`` for the long bot, as an operator runs it."""
    return subprocess.run(
        [sys.executable, "-m", "lambdagram", "deadletter", "replay"],
        env={**env, "LAMBDAGRAM_APP": f"{LONG_BOT}:app", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout


def sent_texts(telegram: FakeTelegram, chat_id: int = 1001) -> list[str]:
    return [
        str(c.params["text"])
        for c in telegram.calls_to("sendMessage")
        if int(c.params["chat_id"]) == chat_id
    ]


def test_a_long_update_is_answered_at_once_and_put_on_its_chats_message_group(
    bot: WebhookClient, queue: FifoQueue, telegram: FakeTelegram
) -> None:
    reply = bot.say("/draw 0.2")

    assert (reply.status, reply.body) == (200, {"ok": True, "queued": True})
    assert reply.api_calls == []  # nothing ran: no reply, no chat action yet
    [message] = queue.bodies()
    assert message["update"]["message"]["text"] == "/draw 0.2"
    assert message["attributes"]["MessageGroupId"] == f"{{{BOT_ID}:1001}}"
    assert message["attributes"]["MessageDeduplicationId"] == (
        f"{BOT_ID}-{message['update']['update_id']}"
    )


def test_the_worker_runs_it_once_with_the_chat_action_and_commits_its_state(
    bot: WebhookClient, queue: FifoQueue, telegram: FakeTelegram, redis_client: redis.Redis
) -> None:
    bot.say("/draw 0.1")

    assert work(bot, queue) == {"batchItemFailures": []}

    assert sent_texts(telegram) == ["drawing 1 done after 0.1 s"]
    [action] = telegram.calls_to("sendChatAction")
    assert action.params["action"] == "typing"
    assert bot.say("/count").text == "1 drawing(s)"  # the queue is empty: served inline
    assert redis_client.keys("*queued*") == []


def test_a_duplicate_webhook_delivery_and_a_duplicate_queue_delivery_have_no_second_effect(
    bot: WebhookClient, queue: FifoQueue, telegram: FakeTelegram
) -> None:
    update = message_update("/draw 0")
    assert bot.post(update).body == {"ok": True, "queued": True}
    assert bot.post(update).body == {"ok": True, "duplicate": True}
    event = queue.receive()
    assert len(event["Records"]) == 1

    first = bot.handler(event, LambdaContext())
    again = bot.handler(event, LambdaContext())  # SQS delivers at least once
    queue.settle(event, again)

    assert first == again == {"batchItemFailures": []}
    assert sent_texts(telegram) == ["drawing 1 done after 0 s"]
    assert bot.post(update).body == {"ok": True, "duplicate": True}  # Telegram's late retry


def test_a_chats_later_updates_wait_behind_its_queued_one_and_see_what_it_wrote(
    bot: WebhookClient, queue: FifoQueue, telegram: FakeTelegram
) -> None:
    bot.say("/draw 0.1")
    later = bot.say("/count")
    other_chat = bot.say("/count", chat_id=2002)

    assert later.body == {"ok": True, "queued": True}  # behind the drawing, not before it
    assert other_chat.text == "0 drawing(s)"  # another chat is served at once
    assert [m["update"]["message"]["text"] for m in queue.bodies()] == ["/draw 0.1", "/count"]
    work(bot, queue)

    assert sent_texts(telegram) == ["drawing 1 done after 0.1 s", "1 drawing(s)"]
    assert bot.say("/count").text == "1 drawing(s)"  # nothing queued any more: inline again


def test_a_cancel_sent_during_a_long_update_runs_after_it(
    bot: WebhookClient, queue: FifoQueue, telegram: FakeTelegram
) -> None:
    bot.say("/draw 0")
    bot.say("/cancel")
    work(bot, queue)

    assert sent_texts(telegram) == ["drawing 1 done after 0 s", "cancelled"]
    assert bot.say("/count").text == "0 drawing(s)"


def test_a_button_pressed_twice_runs_twice_in_order(
    bot: WebhookClient, queue: FifoQueue, telegram: FakeTelegram
) -> None:
    for _ in range(2):
        pressed = bot.post(callback_update("again", message_id=7))
        assert pressed.body == {"ok": True, "queued": True}
    work(bot, queue)

    assert sent_texts(telegram) == ["again, done", "again, done"]
    assert len(telegram.calls_to("answerCallbackQuery")) == 2


def test_one_chats_failure_hands_back_its_records_only(
    bot: WebhookClient,
    queue: FifoQueue,
    telegram: FakeTelegram,
    redis_client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("lambdagram.worker.WORKER_LOCK_WAIT", 0.2)
    monkeypatch.setenv("LOCK_WAIT", "0.2")
    bot.say("/draw 0", chat_id=1001)
    bot.say("/count", chat_id=1001)
    bot.say("/draw 0", chat_id=2002)
    lock = f"lg:{{{BOT_ID}:1001}}:lock"
    redis_client.set(lock, "another-invocation", px=60_000)  # chat 1001 held elsewhere

    event = queue.receive()
    response = bot.handler(event, LambdaContext(timeout_ms=60_000))
    queue.settle(event, response)

    chat_1001 = [
        r["messageId"] for r in event["Records"] if "1001" in r["attributes"]["MessageGroupId"]
    ]
    assert len(chat_1001) == 2
    assert response == {"batchItemFailures": [{"itemIdentifier": m} for m in chat_1001]}
    assert sent_texts(telegram, 2002) == ["drawing 1 done after 0 s"]
    assert sent_texts(telegram, 1001) == []
    # handed back early (ChangeMessageVisibility: 2 s), not after the visibility timeout
    time.sleep(2.5)
    attributes = queue.client.get_queue_attributes(
        QueueUrl=queue.url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "2"


def test_an_update_given_back_too_often_becomes_a_dead_letter_and_frees_the_chat(
    bot: WebhookClient,
    queue: FifoQueue,
    telegram: FakeTelegram,
    monkeypatch: pytest.MonkeyPatch,
    redis_client: redis.Redis,
) -> None:
    monkeypatch.setenv("MAX_ATTEMPTS", "2")
    bot.say("/draw 0")
    event = queue.receive()
    telegram.fail("sendMessage", 502, "Bad Gateway")
    answers = [bot.handler(event, LambdaContext()) for _ in range(3)]
    telegram.clear()

    failed = {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert answers == [failed, failed, {"batchItemFailures": []}]
    assert redis_client.llen(f"lg:{{{BOT_ID}}}:deadletter") == 1
    assert redis_client.zcard(f"lg:{{{BOT_ID}:1001}}:queued") == 0
    assert bot.say("/count").text == "0 drawing(s)"  # inline again


def test_a_queue_that_refuses_is_a_503_and_loses_nothing(
    long_env: dict[str, str],
    telegram: FakeTelegram,
    monkeypatch: pytest.MonkeyPatch,
    redis_client: redis.Redis,
    queue: FifoQueue,
    caplog: pytest.LogCaptureFixture,
) -> None:
    wrong = {**long_env, "LONG_WORK_QUEUE_URL": queue.url.replace("long-work", "missing")}
    for client in handler_client(wrong, telegram, monkeypatch, LONG_BOT):
        update = message_update("/draw 0")
        refused = client.post(update)
        assert refused.status == 503
        assert refused.body["error"] == "queue_unavailable"
        assert CREDENTIALS["AWS_SECRET_ACCESS_KEY"] not in json.dumps(refused.body)
    for client in handler_client(long_env, telegram, monkeypatch, LONG_BOT):
        assert client.post(update).body == {"ok": True, "queued": True}  # Telegram's retry
        work(client, queue)
        assert sent_texts(telegram) == ["drawing 1 done after 0 s"]


def test_without_a_queue_long_handlers_run_inline_and_the_cold_start_says_so(
    bot_env: dict[str, str],
    telegram: FakeTelegram,
    monkeypatch: pytest.MonkeyPatch,
    redis_client: redis.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for client in handler_client(bot_env, telegram, monkeypatch, LONG_BOT):
        assert client.say("/draw 0").status == 200
        assert sent_texts(telegram) == ["drawing 1 done after 0 s"]
    logged = caplog.text
    assert "flagged long" in logged
    assert "LONG_WORK_QUEUE_URL is not set" in logged


def test_a_bot_without_long_handlers_imports_nothing_of_the_queue(bot_env: dict[str, str]) -> None:
    code = (
        "import sys\n"
        "import tests.support.bots.form as handler\n"
        "from lambdagram.local.events import LambdaContext, lambda_event, message_update\n"
        f"event = lambda_event(message_update('/start'), secret={bot_env['WEBHOOK_SECRET']!r})\n"
        "handler.handler(event, LambdaContext())\n"
        "print(sorted(m for m in sys.modules if m in "
        "{'lambdagram.sqs', 'lambdagram.worker', 'lambdagram.long_work'}))\n"
    )
    env = {k: v for k, v in bot_env.items() if k != "LAMBDAGRAM_APP"}
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_a_worker_killed_mid_handler_is_retried_and_the_reply_arrives_once(
    long_env: dict[str, str], queue: FifoQueue, telegram: FakeTelegram, redis_client: redis.Redis
) -> None:
    short = FifoQueue.create(queue.client, "killed.fifo", visibility=2)
    env = {
        **long_env,
        "LONG_WORK_QUEUE_URL": short.url,
        "LAMBDAGRAM_APP": f"{LONG_BOT}:app",
        "LOCK_TTL": "1",  # the killed worker's lock lapses a second after its last renewal
    }
    webhook = LambdaProcess(env, quiet=True)
    answer = webhook.invoke(lambda_event(message_update("/draw 1"), secret=SECRET))
    webhook.close()
    assert json.loads(answer["body"]) == {"ok": True, "queued": True}

    event = short.receive()
    doomed = LambdaProcess(env, quiet=True)
    doomed.start(event)
    deadline = time.monotonic() + 30
    while not telegram.calls_to("sendChatAction"):  # the handler is running
        assert time.monotonic() < deadline, "the worker never started the handler"
        time.sleep(0.02)
    doomed.kill()

    retry = short.receive(wait=10)  # back after the visibility timeout
    survivor = LambdaProcess(env, quiet=True)
    response = survivor.invoke(retry)
    short.settle(retry, response)
    survivor.close()

    assert response["batchItemFailures"] == []
    assert sent_texts(telegram) == ["drawing 1 done after 1 s"]
    assert retry["Records"][0]["attributes"]["ApproximateReceiveCount"] == "2"


# ---- Out of time: a handler slower than the function is run twice, then given up ----------


def test_a_slow_handler_not_flagged_long_is_run_twice_then_given_up_and_the_user_told(
    bot: WebhookClient, long_env: dict[str, str], telegram: FakeTelegram
) -> None:
    """A port from polling that left a slow handler unflagged: each delivery is cut off at the
    webhook's deadline. Not ten runs (ten replies, ten model calls): two, then a dead letter,
    and the bot's error handler tells the user."""
    update = message_update("/think 1.5")
    short = LambdaContext(timeout_ms=2_000)  # the budget ends 1 s before: 1 s for the handler

    first = bot.post(update, context=short)
    second = bot.post(update, context=LambdaContext(timeout_ms=2_000))
    third = bot.post(update, context=LambdaContext(timeout_ms=2_000))
    fourth = bot.post(update)  # Telegram's retry after the dead letter

    assert (first.status, first.body["error"]) == (503, "out_of_time")
    description = first.body["description"]
    assert "tests.support.bots.long.think did not finish" in description
    assert "flags={'long': True}" in description
    assert "run 1 of 2" in description
    assert "its last" in second.body["description"]
    assert third.body == {"ok": True, "dead_letter": True}
    assert fourth.body == {"ok": True, "duplicate": True}
    assert sent_texts(telegram) == [
        "thinking...",
        "thinking...",
        "Sorry, that took too long; try a shorter one.",
    ]
    telegram.clear()
    replayed = replay_dead_letters(long_env)  # no deadline here: it runs, once
    assert "already processed" not in replayed
    assert sent_texts(telegram) == ["thinking...", "thought it through"]


def test_a_long_handler_longer_than_the_worker_is_run_twice_then_its_chat_goes_on(
    bot: WebhookClient, queue: FifoQueue, telegram: FakeTelegram, redis_client: redis.Redis
) -> None:
    bot.say("/draw 30")  # flagged long, but longer than the worker's 2 s

    runs, deadline = 0, time.monotonic() + 60
    while queue.holds() and time.monotonic() < deadline:  # the worker, as the mapping runs it
        event = queue.receive(10, wait=1)
        if event["Records"]:
            queue.settle(event, bot.handler(event, LambdaContext(timeout_ms=2_000)))
            runs += 1

    assert queue.holds() == 0
    assert runs == 3  # two runs cut off, then the dead letter
    assert sent_texts(telegram) == ["Sorry, that took too long; try a shorter one."]
    assert redis_client.keys("*queued*") == []  # the chat is free: no update waits behind it
    assert bot.say("/count").text == "0 drawing(s)"  # answered inline, not queued
    [letter] = redis_client.lrange(deadletter_key(BOT_ID), 0, -1)
    assert "ran out of the function's time 2 times" in json.loads(letter)["error"]


def test_a_timer_that_fires_while_long_work_holds_its_chat_runs_after_it_in_order(
    bot: WebhookClient, queue: FifoQueue, telegram: FakeTelegram
) -> None:
    """Not three attempts that each wait out the chat's lock and fail `chat_busy`: the job
    goes on the chat's queue behind the long update, and the worker runs it after, once."""
    bot.say("/draw 0.3")
    fired = job_event("nudge", "c1001-nudge", Target(1001), {})
    fired["lambdagram"]["job"]["at"] = "2026-12-08T09:00:00Z"  # Scheduler fills it in

    queued = bot.handler(fired, LambdaContext())
    again = bot.handler(fired, LambdaContext())  # Scheduler delivers at least once
    while queue.holds():
        work(bot, queue)

    assert queued == {"ok": True, "queued": True}
    assert again == {"ok": True, "duplicate": True}
    assert sent_texts(telegram) == ["drawing 1 done after 0.3 s", "nudge: 1 drawing(s)"]
    assert bot.say("/count").text == "1 drawing(s)"  # the chat's queue is empty again


def test_a_record_that_is_not_ours_is_refused_alone_and_the_rest_of_the_batch_runs(
    bot: WebhookClient, queue: FifoQueue, telegram: FakeTelegram
) -> None:
    bot.say("/draw 0")
    event = queue.receive(10)
    nested = "[" * 100_000 + "]" * 100_000
    strays = [
        {**event["Records"][0], "messageId": "deep", "body": nested},
        {**event["Records"][0], "messageId": "list", "body": "[1, 2]"},
        {**event["Records"][0], "messageId": "job", "body": '{"job": {"name": 5}}'},
    ]

    records = [*strays, *event["Records"], "not a record"]
    answer = bot.handler({"Records": records}, LambdaContext())

    assert answer == {"batchItemFailures": []}  # refused ones deleted: no try can go better
    assert sent_texts(telegram) == ["drawing 1 done after 0 s"]


def as_given_up(event: dict[str, Any]) -> dict[str, Any]:
    """The batch as the DLQ's event source mapping hands it over once the queue gave up."""
    return {"Records": [{**r, "eventSourceARN": DEAD_LETTERS_ARN} for r in event["Records"]]}


def test_an_update_the_queue_gave_up_becomes_a_dead_letter_frees_its_chat_and_replays(
    bot: WebhookClient,
    long_env: dict[str, str],
    queue: FifoQueue,
    telegram: FakeTelegram,
    redis_client: redis.Redis,
) -> None:
    """Redis down for longer than the queue's 12 receives: SQS moves the update to its DLQ.
    Not lost there and not holding its chat for a day: the worker, fed from the DLQ, keeps it
    as the engine's dead letter, frees the chat, tells the bot; `deadletter replay` runs it."""
    bot.say("/draw 0")
    taken = queue.receive(10)
    queue.settle(taken, {"batchItemFailures": []})  # gone from the queue: SQS moved it
    dead = as_given_up(taken)  # what 12 failed receives end in

    answer = bot.handler(dead, LambdaContext())

    assert answer == {"batchItemFailures": []}
    assert redis_client.keys("*queued*") == []
    assert sent_texts(telegram) == ["Sorry, that took too long; try a shorter one."]
    [letter] = redis_client.lrange(deadletter_key(BOT_ID), 0, -1)
    assert "the long-work queue gave it up" in json.loads(letter)["error"]
    assert bot.say("/count").text == "0 drawing(s)"  # the chat is served inline again
    telegram.clear()

    replayed = replay_dead_letters(long_env)
    while queue.holds():
        work(bot, queue)

    assert "processed" in replayed
    assert "already processed" not in replayed
    assert sent_texts(telegram) == ["drawing 1 done after 0 s"]
    assert redis_client.lrange(deadletter_key(BOT_ID), 0, -1) == []


def test_a_bot_api_failure_after_the_handler_sent_messages_does_not_send_them_again(
    bot: WebhookClient, queue: FifoQueue, telegram: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    """One stated rule: given back only while nothing was sent; after a message went out,
    the failure is the handler's (logged once, as under polling), not ten re-runs."""
    bot.say("/steps")
    telegram.fail("sendDice", 502, "Bad Gateway")

    while queue.holds():
        work(bot, queue)

    assert sent_texts(telegram) == ["step 1"]
    assert "after the handlers had sent 1 message(s): not run again" in caplog.text


def test_a_429_that_fits_in_the_time_left_is_waited_out_and_the_update_completes(
    bot: WebhookClient, telegram: FakeTelegram
) -> None:
    telegram.fail("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1, times=1)

    reply = bot.say("/ping")

    assert reply.status == 200
    delivered = [c for c in telegram.calls_to("sendMessage") if c.result is not None]
    assert [c.params["text"] for c in delivered] == ["pong"]
