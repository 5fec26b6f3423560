"""Albums: one handler call for a whole media group, although each part is its own webhook.

Telegram sends a chat's next update only after the previous one was answered, so the parts
here are sent one after another, each after the previous answer, to Lambda instances in
OS processes of their own; the asynchronous invocation that closes the album runs on
another one, through a loopback stand-in for Lambda's Invoke API.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from lambdagram import albums, deadletter, deferred
from lambdagram.function import DeferredWorkFailed
from lambdagram.local.events import (
    LambdaContext,
    lambda_event,
    message_update,
    photo_update,
    response_json,
)
from lambdagram.local.fake_lambda import FakeLambda
from lambdagram.local.fake_telegram import FakeTelegram
from lambdagram.local.lambda_process import LambdaProcess

from tests.conftest import SECRET, handler_client
from tests.support.ported import as_polling, normalise
from tests.support.sqs import CREDENTIALS, REGION, FifoQueue, MotoServer, sqs_client
from tests.support.webhook import WebhookClient

pytestmark = pytest.mark.slow

ALBUM_BOT = "tests.support.bots.album:app"


@pytest.fixture
def album_env(bot_env: dict[str, str]) -> dict[str, str]:
    return {**bot_env, "LAMBDAGRAM_APP": ALBUM_BOT, "ALBUM_WAIT": "1"}


class Fleet:
    """Webhook instances and one more for asynchronous invocations, behind a fake Lambda."""

    def __init__(self, env: dict[str, str]) -> None:
        self._lock = threading.Lock()
        self.lambda_api = FakeLambda(self._run_async).start()
        self.env = {
            **env,
            "AWS_LAMBDA_FUNCTION_NAME": "lambdagram-test-webhook",
            "AWS_REGION": "eu-west-1",
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_ENDPOINT_URL_LAMBDA": self.lambda_api.url,
        }
        self.webhook = [LambdaProcess(self.env, quiet=True) for _ in range(2)]
        self.background = LambdaProcess(self.env, quiet=True)
        for process in [*self.webhook, self.background]:  # warm, as Telegram's parts find them
            process.invoke(lambda_event(message_update("/albums", chat_id=9), secret=SECRET))

    def _run_async(self, event: dict[str, Any]) -> Any:
        with self._lock:
            return self.background.invoke(event)

    def send(self, update: dict[str, Any], instance: int = 0) -> tuple[int, Any, float]:
        started = time.monotonic()
        response = self.webhook[instance].invoke(lambda_event(update, secret=SECRET))
        return response["statusCode"], response_json(response), time.monotonic() - started

    def close(self) -> None:
        for process in [*self.webhook, self.background]:
            process.close()
        self.lambda_api.close()


@pytest.fixture
def fleet(
    album_env: dict[str, str], redis_client: redis.Redis, telegram: FakeTelegram
) -> Iterator[Fleet]:
    fleet = Fleet(album_env)
    telegram.clear()
    yield fleet
    fleet.close()


def album(group: str, *captions: str) -> list[dict[str, Any]]:
    return [photo_update(media_group_id=group, caption=c) for c in captions]


def test_an_album_sent_part_by_part_gets_one_answer_with_every_photo(
    fleet: Fleet, telegram: FakeTelegram, redis_client: redis.Redis
) -> None:
    # Given three parts, each delivered after the previous one was answered, to two instances
    answers = [
        fleet.send(part, instance=n % 2) for n, part in enumerate(album("g1", "a", "b", "c"))
    ]

    # Then each part is answered at once, without waiting for the others
    assert [(status, body) for status, body, _ in answers] == [
        (200, {"ok": True, "album_part": True})
    ] * 3
    assert all(seconds < 2 for *_, seconds in answers)
    assert telegram.calls == []

    # And one asynchronous invocation answers the whole album once
    fleet.lambda_api.wait()
    assert len(fleet.lambda_api.events) == 1
    [summary] = telegram.calls_to("sendMessage")
    assert summary.params["text"] == "Album 1: 3 photos (a, b, c)"
    [group] = telegram.calls_to("sendMediaGroup")
    assert str(group.params["media"]).count("AgACphoto") == 3
    assert redis_client.keys("lg:*}:album:*") == []  # the album is gone with the commit

    # And the dialog state the handler wrote is there for the next update
    fleet.send(message_update("/albums"))
    assert telegram.calls_to("sendMessage")[-1].params["text"] == "1 album(s) so far"


def test_a_redelivered_part_is_a_duplicate_and_schedules_nothing_more(
    fleet: Fleet, telegram: FakeTelegram
) -> None:
    first, second = album("g2", "x", "y")

    fleet.send(first)
    status, body, _ = fleet.send(first)  # Telegram did not see our answer and retries
    fleet.send(second)
    fleet.lambda_api.wait()

    assert (status, body) == (200, {"ok": True, "duplicate": True})
    assert len(fleet.lambda_api.events) == 1
    [summary] = telegram.calls_to("sendMessage")
    assert summary.params["text"] == "Album 1: 2 photos (x, y)"


def test_photos_outside_albums_and_other_updates_go_straight_to_their_handlers(
    fleet: Fleet, telegram: FakeTelegram
) -> None:
    status, _, _ = fleet.send(photo_update(caption="alone"))

    assert status == 200
    [reply] = telegram.calls_to("sendMessage")
    assert reply.params["text"] == "One photo."
    assert fleet.lambda_api.events == []


def test_without_lambda_to_defer_to_the_first_part_closes_the_album_itself(
    album_env: dict[str, str], telegram: FakeTelegram, redis_client: redis.Redis
) -> None:
    # Local tools have no Invoke API: each part waits ALBUM_WAIT for the next, which
    # Telegram would only send after the answer, so every part is its own album.
    process = LambdaProcess(album_env, quiet=True)
    try:
        answers = [process.invoke(lambda_event(p, secret=SECRET)) for p in album("g3", "p", "q")]
    finally:
        process.close()

    assert [a["statusCode"] for a in answers] == [200, 200]
    texts = [c.params["text"] for c in telegram.calls_to("sendMessage")]
    assert texts == ["Album 1: 1 photos (p)", "Album 2: 1 photos (q)"]
    assert redis_client.keys("lg:*}:album:*") == []


def test_the_album_bot_sends_what_it_sends_under_polling(
    fleet: Fleet, telegram: FakeTelegram
) -> None:
    parts = album("g4", "one", "two", "three")
    [polled] = as_polling(ALBUM_BOT.partition(":")[0], parts, telegram, together=True)
    telegram.clear()

    for part in parts:
        fleet.send(part)
    fleet.lambda_api.wait()

    assert normalise(telegram.calls) == polled
    assert [method for method, _ in polled] == ["sendMessage", "sendMediaGroup"]


class InProcessAlbums:
    """The album bot in this process; its closers recorded by a fake Invoke API, run later."""

    def __init__(
        self, client: WebhookClient, closers: list[dict[str, Any]], lambda_api: FakeLambda
    ) -> None:
        self.client = client
        self.closers = closers
        self.lambda_api = lambda_api

    def close(self, event: dict[str, Any] | None = None) -> tuple[Any, float]:
        """Run the one queued closer (or ``event``) as Lambda would; (result, seconds)."""
        if event is None:
            [event] = self.closers
        started = time.monotonic()
        # the closer's timeout (as the deploy gives it) leaves its whole limit to wait
        result = self.client.handler(event, LambdaContext(timeout_ms=120_000))
        return result, time.monotonic() - started


@pytest.fixture
def in_process(
    album_env: dict[str, str],
    telegram: FakeTelegram,
    redis_client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[InProcessAlbums]:
    closers: list[dict[str, Any]] = []
    with FakeLambda(closers.append) as invoke:
        env = {
            **album_env,
            "ALBUM_WAIT": "3",  # the closer's limit: ten times that
            "LOCK_WAIT": "60",  # ... which the lock wait would otherwise cut to 10 s
            "AWS_LAMBDA_FUNCTION_NAME": "lambdagram-test-webhook",
            "AWS_REGION": "eu-west-1",
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_ENDPOINT_URL_LAMBDA": invoke.url,
        }
        monkeypatch.setattr(deferred, "_refused_until", 0.0)  # a process that was never refused
        clients = handler_client(env, telegram, monkeypatch, ALBUM_BOT.partition(":")[0])
        yield InProcessAlbums(next(clients), closers, invoke)
        next(clients, None)


def part(group: str, message_id: int, caption: str) -> dict[str, Any]:
    update = photo_update(media_group_id=group, caption=caption)
    update["message"]["message_id"] = message_id
    return update


def test_the_handler_gets_the_album_in_message_id_order(
    in_process: InProcessAlbums, telegram: FakeTelegram, redis_client: redis.Redis
) -> None:
    # Given parts whose message ids sort differently as numbers and as text (9 < 10 < 100)
    for message_id, caption in [(9, "nine"), (10, "ten"), (100, "hundred")]:
        assert in_process.client.post(part("g5", message_id, caption)).status == 200
    make_quiet(redis_client, "g5")

    # When the album is closed
    in_process.close()

    # Then the handler saw them in message order
    [summary] = telegram.calls_to("sendMessage")
    assert summary.params["text"] == "Album 1: 3 photos (nine, ten, hundred)"


def test_the_closer_answers_once_the_album_is_quiet_not_at_its_limit(
    in_process: InProcessAlbums, telegram: FakeTelegram, redis_client: redis.Redis
) -> None:
    # Given an album whose last part came longer ago than ALBUM_WAIT (3 s)
    in_process.client.post(part("g6", 1, "a"))
    in_process.client.post(part("g6", 2, "b"))
    make_quiet(redis_client, "g6")

    # When its closer runs
    result, seconds = in_process.close()

    # Then it handles the album without waiting out its limit (30 s)
    assert result == {}  # handled (the replies went over the Bot API)
    assert seconds < 15  # a bound far above a loaded machine's time, far below the limit
    assert len(telegram.calls_to("sendMessage")) == 1


def test_an_album_parts_update_id_is_remembered_for_telegrams_24_hours(
    in_process: InProcessAlbums, redis_client: redis.Redis
) -> None:
    first = part("g7", 1, "a")
    in_process.client.post(first)
    make_quiet(redis_client, "g7")
    in_process.close()

    key = f"lg:{{123456789:1001}}:update:{first['update_id']}"
    assert redis_client.get(key) == "done"
    assert 23 * 3600 < redis_client.ttl(key) <= 24 * 3600  # Telegram's retry window
    assert in_process.client.post(first).body == {"ok": True, "duplicate": True}


def make_quiet(redis_client: redis.Redis, group: str) -> None:
    """Make the album's last part older than any ALBUM_WAIT here (as if time had passed)."""
    last = f"lg:{{123456789:1001}}:album:{group}:last"
    redis_client.set(last, int((time.time() - 60) * 1000), keepttl=True)


def test_an_album_whose_closer_fails_every_attempt_is_kept_as_dead_letters(
    in_process: InProcessAlbums, telegram: FakeTelegram, redis_client: redis.Redis
) -> None:
    # Given an album, and a Bot API failing (5xx) whenever its closer answers it
    parts = [part("g8", 1, "a"), part("g8", 2, "b")]
    for each in parts:
        in_process.client.post(each)
    make_quiet(redis_client, "g8")
    telegram.fail("sendMessage", 502, "Bad Gateway")
    [closer] = in_process.closers

    # When Lambda runs the closer as often as it runs an asynchronous invocation
    failures = []
    for _ in range(albums.CLOSER_ATTEMPTS - 1):
        with pytest.raises(DeferredWorkFailed) as failed:
            in_process.close(closer)
        failures.append(str(failed.value))
    result, _ = in_process.close(closer)

    # Then the last attempt keeps every part as a dead letter and the album is gone
    assert all("bot_api_unavailable" in failure for failure in failures)
    assert result == {"ok": True, "dead_letter": True}
    kept = redis_client.lrange(deadletter.deadletter_key(123456789), 0, -1)
    assert sorted(json.loads(e)["update"]["update_id"] for e in kept) == sorted(
        p["update_id"] for p in parts
    )
    assert "not handled after 3 attempts" in json.loads(kept[0])["error"]
    assert redis_client.keys("lg:*}:album:g8*") == []


def test_a_part_after_a_lost_closer_queues_a_new_one(
    in_process: InProcessAlbums, telegram: FakeTelegram, redis_client: redis.Redis
) -> None:
    # Given an album whose closer was queued but never ran
    in_process.client.post(part("g9", 1, "a"))
    closer_mark = "lg:{123456789:1001}:album:g9:closer"
    wait = 3  # ALBUM_WAIT here
    assert 0 < redis_client.ttl(closer_mark) <= wait * albums.MAX_WAIT_FACTOR + 60
    redis_client.delete(closer_mark)  # as if its time had passed
    in_process.closers.clear()

    # When another part of it comes, and the new closer runs
    in_process.client.post(part("g9", 2, "b"))
    make_quiet(redis_client, "g9")
    in_process.close()

    # Then the album is handled whole
    [summary] = telegram.calls_to("sendMessage")
    assert summary.params["text"] == "Album 1: 2 photos (a, b)"


def test_when_lambda_refuses_to_queue_the_closer_parts_are_answered_at_once_and_it_stops_asking(
    in_process: InProcessAlbums, telegram: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a function whose role may not invoke it (Lambda answers 403)
    in_process.lambda_api.refusing = 403

    # When the parts of two albums come
    replies = [
        in_process.client.post(part(g, n, c)) for g, n, c in [("gA", 1, "a"), ("gB", 2, "b")]
    ]

    # Then each is handled at once as an album of its own, Lambda was asked once, and the
    # reason was said
    assert [r.status for r in replies] == [200, 200]
    texts = [c.params["text"] for c in telegram.calls_to("sendMessage")]
    assert texts == ["Album 1: 1 photos (a)", "Album 2: 1 photos (b)"]
    assert in_process.lambda_api.asked == 1
    assert "lambda:InvokeFunction" in caplog.text


def test_a_part_closed_in_its_own_webhook_that_fails_is_retried_then_kept_not_lost(
    in_process: InProcessAlbums, telegram: FakeTelegram, redis_client: redis.Redis
) -> None:
    # Given no Lambda to close albums later (it refuses), and a Bot API failing the answer
    in_process.lambda_api.refusing = 403
    telegram.fail("sendMessage", 502, "Bad Gateway")
    alone = part("gC", 1, "a")

    # When Telegram delivers the part again after each 503, as it does
    answers = [in_process.client.post(alone) for _ in range(albums.CLOSER_ATTEMPTS)]

    # Then each retry closed it again (not a duplicate), and the last kept it as a dead letter
    assert [a.status for a in answers] == [503] * (albums.CLOSER_ATTEMPTS - 1) + [200]
    assert answers[-1].body == {"ok": True, "dead_letter": True}
    [kept] = redis_client.lrange(deadletter.deadletter_key(123456789), 0, -1)
    assert json.loads(kept)["update"]["update_id"] == alone["update_id"]
    assert redis_client.keys("lg:*}:album:gC*") == []


def test_an_album_closed_while_long_work_holds_its_chat_is_handled_after_it_in_order(
    album_env: dict[str, str],
    moto: MotoServer,
    telegram: FakeTelegram,
    redis_client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Not three closer attempts that each wait out the chat's lock, then dead letters: the
    album goes on the chat's queue behind the long update, and the worker handles it after."""
    moto.reset()
    queue = FifoQueue.create(sqs_client(moto.url))
    closers: list[dict[str, Any]] = []
    with FakeLambda(closers.append) as invoke:
        env = {
            **album_env,
            **CREDENTIALS,
            "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL_SQS": moto.url,
            "LONG_WORK_QUEUE_URL": queue.url,
            "AWS_LAMBDA_FUNCTION_NAME": "lambdagram-test-webhook",
            "AWS_ENDPOINT_URL_LAMBDA": invoke.url,
        }
        monkeypatch.setattr(deferred, "_refused_until", 0.0)
        for client in handler_client(env, telegram, monkeypatch, ALBUM_BOT.partition(":")[0]):
            assert client.say("/scan 0.3").body == {"ok": True, "queued": True}
            for message_id, caption in [(21, "a"), (22, "b")]:
                assert client.post(part("g9", message_id, caption)).body["album_part"]
            make_quiet(redis_client, "g9")
            [closer] = closers

            closed = client.handler(closer, LambdaContext(timeout_ms=60_000))
            while queue.holds():
                event = queue.receive(10, wait=1)
                if event["Records"]:
                    queue.settle(event, client.handler(event, LambdaContext(timeout_ms=60_000)))

            assert closed == {"ok": True, "queued": True}
            texts = [c.params["text"] for c in telegram.calls_to("sendMessage")]
            assert texts == ["scan 1 done", "Album 1: 2 photos (a, b) after 1 scan(s)"]
            assert len(telegram.calls_to("sendMediaGroup")) == 1
            assert client.say("/albums").texts == ["1 album(s) so far"]  # inline again
