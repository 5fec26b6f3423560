"""``python -m lambdagram poll``: getUpdates from the (fake) Bot API through the Lambda path."""

from __future__ import annotations

import io
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import redis

from lambdagram.local.events import message_update, photo_update
from lambdagram.local.fake_telegram import FakeTelegram
from lambdagram.local.lambda_process import ROOT
from lambdagram.local.redis_server import RedisServer
from lambdagram.tools.poll import BotApi, Poller, PollError

from tests.conftest import SECRET, TOKEN

WAIT = 60.0  # generous: a loaded two-core machine


class PollProcess:
    """``python -m lambdagram poll`` in a child process, its output read line by line."""

    def __init__(self, env: dict[str, str], cwd: Path, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "lambdagram", "poll", *args],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, text: str) -> str:
        """The first new line holding ``text`` (fails after `WAIT` or if the process ends)."""
        deadline = time.monotonic() + WAIT
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                pytest.fail(f"poll exited before {text!r}: {self.lines}")
            self.lines.append(line)
            if text in line:
                return line
        pytest.fail(f"no {text!r} within {WAIT} s: {self.lines}")

    def stop(self) -> int:
        """Ctrl-C, then the exit code."""
        self.process.send_signal(signal.SIGINT)
        code = self.process.wait(timeout=WAIT)
        while (line := self._queue.get(timeout=WAIT)) is not None:
            self.lines.append(line)
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


@pytest.fixture
def start_poll(
    telegram: FakeTelegram, durable_redis: RedisServer, tmp_path: Path
) -> Iterator[Callable[..., PollProcess]]:
    started: list[PollProcess] = []
    env = {
        # no PYTHONUNBUFFERED: what it prints must reach a pipe as it happens without it
        **{
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AWS_", "REDIS_")) and k != "PYTHONUNBUFFERED"
        },
        "BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": telegram.url,
        "REDIS_URL": durable_redis.url,
        "PYTHONPATH": str(ROOT),
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }

    def start(app: str = "tests.support.bots.form:app", *args: str) -> PollProcess:
        poll = PollProcess({**env, "LAMBDAGRAM_APP": app}, tmp_path, *args)
        started.append(poll)
        return poll

    yield start
    for poll in started:
        poll.kill()


def texts(telegram: FakeTelegram) -> list[str]:
    return [str(call.params.get("text")) for call in telegram.calls_to("sendMessage")]


def test_a_dialog_runs_through_the_lambda_path_and_a_redis_outage_is_retried(
    start_poll: Callable[..., PollProcess],
    telegram: FakeTelegram,
    durable_redis: RedisServer,
    tmp_path: Path,
) -> None:
    poll = start_poll()
    poll.wait_for("Polling as @")

    telegram.send_update(message_update("/start", chat_id=5))
    poll.wait_for("replied with sendMessage")  # the webhook reply, sent by the poller
    telegram.send_update(message_update("Ada", chat_id=5))
    poll.wait_for("replied with sendMessage")
    durable_redis.stop()
    telegram.send_update(message_update("36", chat_id=5))
    poll.wait_for("503 storage_unavailable: retrying in")
    durable_redis.start()
    poll.wait_for("replied with sendMessage")
    telegram.send_update(message_update("/skip", chat_id=5))
    poll.wait_for("handled")

    assert texts(telegram)[:3] == [
        "Hi! Let's fill a short questionnaire. What's your name?",
        "Nice to meet you, <b>Ada</b>! How old are you?",
        "Tell me a little about yourself, or send /skip.",
    ]
    assert "Name: Ada\nAge: 36" in texts(telegram)[3]  # the summary the function awaited
    assert poll.stop() == 0, poll.lines[-8:]
    assert poll.lines[-1] == "Stopped."
    assert telegram.pending_updates == []  # the processed updates were confirmed
    logs = (tmp_path / ".tmp" / "poll.log").read_text()
    processed = [json.loads(line) for line in logs.splitlines() if '"update processed"' in line]
    assert len(processed) == 4
    assert TOKEN not in logs
    assert TOKEN.split(":")[1] not in "\n".join(poll.lines)


def test_a_set_webhook_is_refused_unless_told_to_delete_it(
    start_poll: Callable[..., PollProcess], telegram: FakeTelegram
) -> None:
    telegram.state.webhook = {"url": "https://abc.lambda-url.eu-west-1.on.aws/webhook"}

    refused = start_poll()
    assert refused.process.wait(timeout=WAIT) == 1
    assert refused.process.stdout is not None
    refused.wait_for("--delete-webhook")

    poll = start_poll("tests.support.bots.form:app", "--delete-webhook")
    poll.wait_for("deleted the webhook https://abc.lambda-url")
    poll.wait_for("Polling as @")
    telegram.send_update(message_update("/help", chat_id=6))
    poll.wait_for("replied with sendMessage")
    assert poll.stop() == 0, poll.lines[-8:]


def test_an_album_reaches_the_handler_whole_once(
    start_poll: Callable[..., PollProcess], telegram: FakeTelegram
) -> None:
    poll = start_poll("tests.support.bots.album:app")
    poll.wait_for("Polling as @")

    for caption in ("one", "two", "three"):
        telegram.send_update(photo_update(chat_id=7, media_group_id="g1", caption=caption))
    deadline = time.monotonic() + WAIT
    while not telegram.calls_to("sendMediaGroup") and time.monotonic() < deadline:
        time.sleep(0.1)

    assert texts(telegram) == ["Album 1: 3 photos (one, two, three)"]
    assert len(telegram.calls_to("sendMediaGroup")) == 1
    assert poll.stop() == 0, poll.lines[-8:]


def test_without_a_token_it_says_what_to_set() -> None:
    environ = {k: v for k, v in os.environ.items() if k != "BOT_TOKEN"}
    result = subprocess.run(
        [sys.executable, "-m", "lambdagram", "poll"],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )

    assert result.returncode == 1
    assert result.stderr.startswith("error: BOT_TOKEN is not set")


@dataclass
class RecordingPoller(Poller):
    """A poller whose retry pauses are recorded, not slept; ``during`` runs in each one."""

    during: Callable[[int], None] = lambda _n: None
    recorded: list[float] = field(default_factory=list)

    def _pause(self, seconds: float) -> None:
        self.during(len(self.recorded))
        self.recorded.append(seconds)


@pytest.fixture
def function(lambda_handler: ModuleType, telegram: FakeTelegram) -> Callable[..., Poller]:
    """``function(cls, **fields)``: a poller in this process feeding the engine's test bot."""

    def make(cls: type[Poller] = Poller, **fields: Any) -> Poller:
        api = BotApi(TOKEN, telegram.url)
        return cls(api, lambda_handler.handler, SECRET, out=io.StringIO(), long_poll=1, **fields)

    return make


def in_flight_elsewhere(redis_client: redis.Redis, update: dict[str, Any]) -> str:
    """Mark ``update`` as being processed by another invocation (the function answers 409)."""
    key = f"lg:{{123456789:{update['message']['chat']['id']}}}:update:{update['update_id']}"
    redis_client.set(key, "p:another-invocation", px=60_000)
    return key


def test_a_409_is_retried_like_a_5xx_not_skipped(
    function: Callable[..., Poller], telegram: FakeTelegram, redis_client: redis.Redis
) -> None:
    # Given an update another invocation holds, which it gives back during the first pause
    update = message_update("/help", chat_id=8)
    mark = in_flight_elsewhere(redis_client, update)
    poller = function(RecordingPoller, during=lambda _n: redis_client.delete(mark))
    assert isinstance(poller, RecordingPoller)

    # When the poller delivers it
    poller.deliver(update)

    # Then the 409 was retried once, the update handled and replied to, then confirmed
    assert poller.recorded == [1.0]
    assert "409 update_in_flight: retrying in 1 s" in poller.out.getvalue()  # type: ignore[attr-defined]
    assert texts(telegram)[-1].startswith("/start")
    assert poller.offset == update["update_id"] + 1


def test_the_retry_pause_doubles_from_1_s_up_to_30_s(
    function: Callable[..., Poller], redis_client: redis.Redis
) -> None:
    # Given an update the function refuses (409) for eight attempts in a row
    update = message_update("/help", chat_id=9)
    mark = in_flight_elsewhere(redis_client, update)
    poller = function(
        RecordingPoller, during=lambda n: n == 7 and redis_client.delete(mark) and None
    )
    assert isinstance(poller, RecordingPoller)

    # When the poller delivers it
    poller.deliver(update)

    # Then each pause is twice the one before, up to 30 s
    assert poller.recorded == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]


def test_ctrl_c_during_a_retry_pause_leaves_the_update_unconfirmed(
    function: Callable[..., Poller], telegram: FakeTelegram, redis_client: redis.Redis
) -> None:
    # Given an update the function keeps refusing (409), and a poller that waits 30 s to retry
    update = message_update("/help", chat_id=10)
    in_flight_elsewhere(redis_client, update)
    telegram.send_update(update)
    poller = function(pauses=(30.0,))

    def press_ctrl_c() -> None:
        while not poller._waiting or "retrying in" not in poller.out.getvalue():  # type: ignore[attr-defined]
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGINT)

    # When Ctrl-C comes during the pause (a real SIGINT, to the poller's own handler)
    previous = signal.signal(signal.SIGINT, poller.interrupt)
    try:
        threading.Thread(target=press_ctrl_c, daemon=True).start()
        poller.run()
    finally:
        signal.signal(signal.SIGINT, previous)

    # Then the poller stops without confirming it: Telegram gives it to the next poll
    assert poller.offset is None
    assert [u["update_id"] for u in telegram.pending_updates] == [update["update_id"]]


def test_a_webhook_set_while_polling_stops_it_with_what_to_do(
    function: Callable[..., Poller], telegram: FakeTelegram
) -> None:
    poller = function()
    telegram.state.webhook = {"url": "https://abc.lambda-url.eu-west-1.on.aws/webhook"}

    with pytest.raises(PollError, match="--delete-webhook"):
        poller.run()


class DiesSendingReplies(BotApi):
    """A Bot API client whose process is killed as it sends a webhook reply."""

    def call(self, method: str, params: dict[str, Any] | None = None, timeout: float = 10) -> Any:
        if method == "sendMessage":
            raise SystemExit("killed")
        return super().call(method, params, timeout)


def test_a_reply_cut_off_after_the_commit_is_sent_at_the_next_start(
    function: Callable[..., Poller], telegram: FakeTelegram, tmp_path: Path
) -> None:
    # Given a poller killed after the function committed an update, before its reply went out
    journal = tmp_path / "poll-replies.json"
    update = message_update("/help", chat_id=11)
    dying = function(journal=journal)
    dying.api = DiesSendingReplies(TOKEN, telegram.url)
    with pytest.raises(SystemExit):
        dying.deliver(update)
    assert telegram.calls_to("sendMessage") == []

    # When polling starts again (Telegram redelivers the update: a duplicate by now)
    again = function(journal=journal)
    again.resend_pending()
    again.deliver(update)

    # Then the reply is sent, once
    [reply] = telegram.calls_to("sendMessage")
    assert str(reply.params["chat_id"]) == "11"
    assert json.loads(journal.read_text()) == {}


def test_offline_it_polls_a_fake_bot_api_fed_with_what_is_typed(tmp_path: Path) -> None:
    environ = {k: v for k, v in os.environ.items() if k not in {"BOT_TOKEN", "REDIS_URL"}}
    result = subprocess.run(
        [sys.executable, "-m", "lambdagram", "poll", "--offline"],
        cwd=tmp_path,
        env={**environ, "PYTHONPATH": str(ROOT), "LAMBDAGRAM_APP": "tests.support.bots.form:app"},
        input="/start\nAda\n",
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "Polling a fake Bot API on loopback" in result.stdout
    assert "What's your name?" in result.stdout
    assert "Nice to meet you, Ada!" in result.stdout
    assert result.stdout.rstrip().endswith("Stopped.")
