"""What an adversarial pass broke: Bot API failures, token leaks, hostile bodies, budgets."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
from aiogram import F, Router
from aiogram.fsm.context import FSMContext
from aiogram.methods import SendMessage
from aiogram.types import Message

from lambdagram.local.events import (
    TELEGRAM_IP,
    LambdaContext,
    Shape,
    lambda_event,
    message_update,
)
from lambdagram.local.fake_telegram import FakeTelegram
from lambdagram.local.lambda_process import LambdaProcess
from lambdagram.settings import Settings, SettingsError

from tests.conftest import SECRET
from tests.support.webhook import WebhookClient

STATE_KEY = "fsm:{123456789:1001}:1001:state"
DATA_KEY = "fsm:{123456789:1001}:1001:data"
TOKEN_SECRET = "TEST-token-not-real-0123456789abcd"  # the secret half of the tests' token


@pytest.fixture
def shape() -> str:
    return "function_url"


def at_the_last_step(client: WebhookClient) -> dict[str, Any]:
    """A dialog of the test bot up to its last step (which sends the summary over the API)."""
    client.say("/start")
    client.say("Ada")
    client.say("36")
    return message_update("I build engines")


@pytest.mark.parametrize(
    "failure",
    [
        "html 502",
        "html 404 from a proxy",
        "json 503",
        "429",
        "429 without retry_after",
        "redirect loop",
        "timeout",
    ],
)
def test_every_bot_api_failure_that_can_pass_gives_the_update_back(
    failure: str, client: WebhookClient, telegram: FakeTelegram, redis_client: redis.Redis
) -> None:
    last = at_the_last_step(client)
    # Given Telegram (or something in front of it) failing the summary in one way
    if failure == "html 502":
        telegram.fail_raw("sendMessage", 502, "<html><body>502 Bad Gateway</body></html>")
    elif failure == "html 404 from a proxy":
        telegram.fail_raw("sendMessage", 404, "<html>Not Found</html>")
    elif failure == "json 503":
        telegram.fail("sendMessage", 503, "Service Unavailable")
    elif failure == "429":
        telegram.fail("sendMessage", 429, "Too Many Requests: retry after 3", retry_after=3)
    elif failure == "429 without retry_after":
        telegram.fail("sendMessage", 429, "Too Many Requests")
    elif failure == "redirect loop":
        telegram.redirect_loop("sendMessage")
    else:
        telegram.hang("sendMessage", 3.0)

    # a short budget makes the hanging call time out quickly
    context = LambdaContext(timeout_ms=4_000) if failure == "timeout" else None
    failed = client.post(last, context=context)

    # Then Telegram is asked to deliver it again, nothing moved, and no secret was shown
    assert failed.status == 503, failed.body
    assert failed.body["error"] in {"bot_api_unavailable", "out_of_time"}
    assert TOKEN_SECRET not in json.dumps(failed.body)
    assert redis_client.get(STATE_KEY) == "Form:about"
    telegram.clear()
    done = client.post(last)
    assert done.status == 200
    assert "Name: Ada" in done.texts[0]


@pytest.mark.parametrize(
    "answer",
    ["a definitive refusal (403)", "a 2xx aiogram cannot read (the call went through)"],
)
def test_a_refusal_or_an_accepted_call_is_a_handler_error_never_retried(
    answer: str, client: WebhookClient, telegram: FakeTelegram, redis_client: redis.Redis
) -> None:
    # Given the summary refused for good, or sent and then answered unreadably
    last = at_the_last_step(client)
    if answer.startswith("a definitive"):
        telegram.fail("sendMessage", 403, "Forbidden: bot was blocked by the user")
    else:
        telegram.fail_raw("sendMessage", 200, "<html>sent</html>")

    # When the last step runs
    reply = client.post(last)

    # Then it is a handler error, marked done: Telegram's retry sends nothing again
    assert reply.status == 200
    assert reply.body == {"ok": True, "handled": False}
    assert client.post(last).body == {"ok": True, "duplicate": True}
    assert len(telegram.calls_to("sendMessage")) == 1


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"a":' * 5_000 + "1" + "}" * 5_000, "nested too deeply"),
        # deeper than MAX_DEPTH (64), far shallower than the json module's own limit
        ('{"update_id": 5, "message": ' + "[" * 100 + "]" * 100 + "}", "nested too deeply"),
        ('{"update_id": ' + "9" * 5_001 + "}", "not valid JSON"),
        ('{"update_id": ' + "9" * 30 + "}", "out of range"),
        (b'{"update_id": 1, "message": "\xff\xfe"}', "not valid JSON"),
    ],
    ids=[
        "deep-arrays",
        "deep-objects",
        "past-max-depth",
        "huge-int",
        "update-id-range",
        "invalid-utf8",
    ],
)
def test_hostile_bodies_are_a_400_with_a_reason(
    body: str | bytes, reason: str, client: WebhookClient, redis_client: redis.Redis
) -> None:
    reply = client.post(body, base64_body=isinstance(body, bytes))  # raw bytes, as sent

    assert reply.status == 400, reply.body
    assert reply.body["error"] == "bad_update"
    assert reason in reply.body["description"]
    assert redis_client.dbsize() == 0


def test_invalid_base64_is_checked_after_the_secret(
    client: WebhookClient, redis_client: redis.Redis
) -> None:
    event = lambda_event(message_update("/start"), secret="wrong-secret", base64_body=True)
    event["body"] = "not*base64!"
    wrong = client.invoke(event)
    event = lambda_event(message_update("/start"), secret=client.secret, base64_body=True)
    event["body"] = "not*base64!"
    right = client.invoke(event)

    assert (wrong.status, wrong.body["error"]) == (401, "wrong_secret")
    assert (right.status, right.body["error"]) == (400, "bad_update")
    assert redis_client.dbsize() == 0


def test_a_reply_with_a_lone_surrogate_is_still_answered_after_the_commit(
    client: WebhookClient, redis_client: redis.Redis
) -> None:
    client.say("/start")

    reply = client.post(json.dumps(message_update("Ada \ud800")).encode())

    assert reply.status == 200
    assert "Nice to meet you" in reply.body["text"]
    assert redis_client.get(STATE_KEY) == "Form:age"


def test_a_reply_that_cannot_be_made_is_a_handler_error_before_anything_is_committed(
    make_client: Callable[..., WebhookClient], redis_client: redis.Redis
) -> None:
    router = Router()

    class Unsendable(SendMessage):
        def model_dump(self, **_: Any) -> dict[str, Any]:
            raise ValueError("cannot serialise")

    @router.message(F.text)
    async def answer(message: Message) -> SendMessage:
        return Unsendable(chat_id=message.chat.id, text="x")

    client = make_client(lambda dp: dp.include_router(router))
    update = message_update("hi")

    reply = client.post(update)

    assert reply.body == {"ok": True, "handled": False}
    assert client.post(update).body == {"ok": True, "duplicate": True}


def test_secrets_never_leave_the_process(
    bot_env: dict[str, str],
    telegram: FakeTelegram,
    redis_client: redis.Redis,
    tmp_path: Path,
) -> None:
    # Given a function whose Redis URL carries a password, in a process of its own
    password = "sentinel-redis-pass"
    env = {
        **bot_env,
        "LAMBDAGRAM_APP": "tests.support.bots.leaky:app",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "REDIS_URL": bot_env["REDIS_URL"] + f"?password={password}",
    }
    log = (tmp_path / "function.log").open("w")
    process = LambdaProcess({**env, "REDIS_URL": bot_env["REDIS_URL"]}, log=log)
    answers = []

    def send(body: dict[str, Any], instance: LambdaProcess | None = None) -> None:
        answers.append((instance or process).invoke(lambda_event(body, secret=SECRET)))

    # When every failure mode happens
    try:
        send(message_update("leak"))  # a handler's exception text quotes the secrets
        telegram.redirect_loop("sendMessage")  # aiohttp's error text quotes the URL
        send(message_update("hello"))
        telegram.clear()
        telegram.fail_raw("sendMessage", 502, f"<html>bad gateway for /bot{TOKEN_SECRET}</html>")
        send(message_update("hello"))
        send({"update_id": 77, "poll_answer": {"poll_id": "1"}})  # a dead letter
        broken = LambdaProcess({**env, "REDIS_URL": f"redis://:{password}@127.0.0.1:1/0"}, log=log)
        send(message_update("hello"), broken)  # Redis unreachable: its error quotes the URL
        broken.close()
    finally:
        process.close()
        log.close()

    # Then nothing the function printed, answered or stored shows them
    everything = "\n".join(
        [
            (tmp_path / "function.log").read_text(),
            *(json.dumps(answer) for answer in answers),
            *map(str, redis_client.lrange("lg:{123456789}:deadletter", 0, -1)),
        ]
    )
    assert [a["statusCode"] for a in answers] == [200, 503, 503, 200, 503]
    assert "webhook request refused" in everything  # the log was captured
    for secret in (TOKEN_SECRET, SECRET, password):
        assert secret not in everything, secret


def test_the_redis_password_is_redacted_in_every_spelling() -> None:
    from lambdagram.redaction import redact

    settings = Settings.from_environ(
        {
            "BOT_TOKEN": "123:abcdefgh",
            "WEBHOOK_SECRET": "hook-secret",
            "REDIS_URL": "rediss://default:p%40ss-word@cache:6379/0?password=second-pass",
        }
    )

    shown = repr(settings)
    assert "p%40ss-word" not in shown
    assert "second-pass" not in shown
    assert redact("auth p@ss-word then second-pass") == "auth *** then ***"


def test_a_lock_ttl_too_short_to_renew_is_refused_at_start() -> None:
    with pytest.raises(SettingsError, match=r"LOCK_TTL='0\.0001' must be .* at least 1"):
        Settings.from_environ(
            {
                "BOT_TOKEN": "123:abcdefgh",
                "WEBHOOK_SECRET": "hook-secret",
                "REDIS_URL": "redis://localhost",
                "LOCK_TTL": "0.0001",
            }
        )


def test_the_lock_wait_leaves_room_for_a_bot_api_call_before_the_timeout(
    client: WebhookClient, redis_client: redis.Redis
) -> None:
    # Given the chat locked by another invocation for 9.9 s, and 13 s left in this one
    redis_client.set("lg:{123456789:1001}:lock", "someone-else", px=9_900)

    started = time.monotonic()
    reply = client.say("/start", context=LambdaContext(timeout_ms=13_000))
    waited = time.monotonic() - started

    # Then it gives up after 1 s (13 s, less 11 s for a Bot API call and 1 s to answer)
    assert reply.status == 503
    assert reply.body["error"] == "chat_busy"
    assert waited < 5


def test_a_handler_that_blocks_the_loop_is_named_and_given_up_after_max_attempts(
    make_client: Callable[..., WebhookClient], redis_client: redis.Redis
) -> None:
    router = Router()

    @router.message(F.text)
    async def blocks(message: Message) -> None:
        time.sleep(1.3)  # no await: the lock's renewal never gets to run

    client = make_client(lambda dp: dp.include_router(router), LOCK_TTL="1", MAX_ATTEMPTS="2")
    update = message_update("compute")

    tries = [client.post(update) for _ in range(3)]

    assert [t.status for t in tries] == [503, 503, 200]
    assert "blocked the event loop for 1." in tries[0].body["description"]
    assert tries[2].body == {"ok": True, "dead_letter": True}
    [letter] = redis_client.lrange("lg:{123456789}:deadletter", 0, -1)
    assert "given back 2 times" in letter
    assert client.post(update).body == {"ok": True, "duplicate": True}
    assert client.say("next", chat_id=1001).status == 503  # the same bot blocks again...
    assert redis_client.get("lg:{123456789:1001}:lock") is None  # ...but never holds the chat


def test_a_redis_that_evicts_keys_is_reported_once_per_process(
    make_client: Callable[..., WebhookClient],
    redis_client: redis.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import logging

    router = Router()

    @router.message(F.text)
    async def echo(message: Message) -> SendMessage:
        return message.answer(message.text or "")

    redis_client.config_set("maxmemory-policy", "volatile-lru")  # ElastiCache's node default
    logging.getLogger("lambdagram").addHandler(caplog.handler)
    try:
        client = make_client(lambda dp: dp.include_router(router))
        first, second = client.say("a"), client.say("b")
    finally:
        logging.getLogger("lambdagram").removeHandler(caplog.handler)
        redis_client.config_set("maxmemory-policy", "noeviction")

    assert first.status == second.status == 200  # a warning, not an outage
    alerts = [r for r in caplog.records if getattr(r, "alert", None) == "eviction"]
    assert len(alerts) == 1
    assert "maxmemory_policy=volatile-lru" in alerts[0].getMessage()


def test_a_lock_lost_before_the_commit_answers_503_and_writes_nothing(
    make_client: Callable[..., WebhookClient], redis_client: redis.Redis
) -> None:
    router = Router()

    @router.message(F.text)
    async def loses_the_lock(message: Message, state: FSMContext) -> SendMessage:
        await state.set_state("Form:age")
        await state.update_data(name="Ada")
        redis_client.delete("lg:{123456789:1001}:lock")  # as if it had expired meanwhile
        return message.answer("noted")

    client = make_client(lambda dp: dp.include_router(router))
    update = message_update("Ada")

    reply = client.post(update)

    assert reply.status == 503
    assert reply.body["error"] == "storage_unavailable"
    assert redis_client.get(STATE_KEY) is None
    assert redis_client.get(DATA_KEY) is None
    mark = redis_client.get(f"lg:{{123456789:1001}}:update:{update['update_id']}")
    assert not str(mark).startswith("done")


def test_the_fsm_writes_happen_only_inside_the_atomic_commit(
    client: WebhookClient, redis_client: redis.Redis, redis_server_url: str
) -> None:
    # Given a second connection watching every command Redis executes (MONITOR)
    watcher = redis.Redis.from_url(redis_server_url, decode_responses=True)
    seen: list[dict[str, Any]] = []

    def watch() -> None:
        with watcher.monitor() as monitor:  # type: ignore[no-untyped-call]
            for command in monitor.listen():
                seen.append(command)
                if "MONITOR-END" in command["command"]:
                    return

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    time.sleep(0.3)  # MONITOR is on before the updates arrive
    client.say("/start")
    client.say("Ada")
    redis_client.echo("MONITOR-END")
    thread.join(5)
    watcher.close()

    # Then every write of a dialog's keys was made by a Lua script (the commit), none outside
    writes = [c for c in seen if c["command"].startswith(("SET fsm:", "DEL fsm:"))]
    assert len(writes) >= 3  # state and data of two steps
    assert {c["client_type"] for c in writes} == {"lua"}


def test_an_update_being_processed_elsewhere_is_answered_409(
    client: WebhookClient, redis_client: redis.Redis
) -> None:
    update = message_update("/start")
    redis_client.set(f"lg:{{123456789:1001}}:update:{update['update_id']}", "p:other", px=5000)

    reply = client.post(update)

    assert reply.status == 409
    assert reply.body["error"] == "update_in_flight"


def test_a_redis_error_inside_a_handler_gives_the_update_back_for_its_retry(
    make_client: Callable[..., WebhookClient], redis_client: redis.Redis
) -> None:
    from redis.exceptions import ConnectionError as RedisConnectionError

    failing = {"now": True}
    router = Router()

    @router.message(F.text)
    async def reads_elsewhere(message: Message) -> SendMessage:
        if failing["now"]:
            raise RedisConnectionError("connection reset by peer")
        return message.answer("done")

    client = make_client(lambda dp: dp.include_router(router))
    update = message_update("hello")

    first = client.post(update)
    failing["now"] = False
    retry = client.post(update)

    assert (first.status, first.body["error"]) == (503, "storage_unavailable")
    assert retry.status == 200  # not 409: the claim was given back
    assert retry.body["text"] == "done"


@pytest.mark.parametrize("shape", ["function_url", "http_api", "rest_api"])
def test_with_the_source_check_on_only_telegrams_networks_get_in(
    shape: Shape,
    make_client: Callable[..., WebhookClient],
    redis_client: redis.Redis,
) -> None:
    router = Router()

    @router.message(F.text)
    async def echo(message: Message) -> SendMessage:
        return message.answer("ok")

    client = make_client(lambda dp: dp.include_router(router), TELEGRAM_IP_CHECK="1")
    client.shape = shape

    from_telegram = client.post(message_update("hi"))
    from_elsewhere = client.post(message_update("hi"), source_ip="203.0.113.9")
    from_v6 = client.post(message_update("hi"), source_ip="2001:db8::1")

    assert from_telegram.status == 200
    assert (from_elsewhere.status, from_elsewhere.body["error"]) == (403, "forbidden_source")
    assert from_v6.status == 403


@pytest.mark.parametrize("shape", ["function_url", "http_api", "rest_api"])
def test_the_source_check_reads_the_address_aws_saw_not_a_forwarded_header(
    shape: Shape, make_client: Callable[..., WebhookClient], redis_client: redis.Redis
) -> None:
    # Given the source check on, and a request from outside Telegram's networks whose
    # X-Forwarded-For names one of Telegram's addresses first (a client may send any header;
    # AWS appends the address it saw)
    client = make_client(lambda dp: None, TELEGRAM_IP_CHECK="1")
    event = lambda_event(message_update("hi"), secret=SECRET, shape=shape, source_ip="203.0.113.9")
    forged = f"{TELEGRAM_IP}, 203.0.113.9"
    for name in ("x-forwarded-for", "X-Forwarded-For"):
        if name in event["headers"]:
            event["headers"][name] = forged
    if "multiValueHeaders" in event:
        event["multiValueHeaders"]["X-Forwarded-For"] = [forged]

    # When it arrives
    reply = client.invoke(event)

    # Then only the source address counts: it is refused, before anything is stored
    assert (reply.status, reply.body["error"]) == (403, "forbidden_source")
    assert redis_client.dbsize() == 0
