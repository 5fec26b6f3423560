"""``python -m lambdagram deadletter list|replay``: see what was kept, replay it later."""

from __future__ import annotations

import io
import json

import pytest
import redis

from lambdagram import deadletter_cli
from lambdagram.cli import main
from lambdagram.local.events import message_update
from lambdagram.local.fake_telegram import FakeTelegram

from tests.conftest import import_handler
from tests.support.webhook import WebhookClient

DEADLETTERS = "lg:{123456789}:deadletter"


@pytest.fixture
def env(bot_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in bot_env.items():
        monkeypatch.setenv(name, value)


def run(action: str) -> str:
    out = io.StringIO()
    assert deadletter_cli.run(action, out, import_handler().app) == 0
    return out.getvalue()


@pytest.mark.parametrize("shape", ["function_url"])
def test_list_shows_each_kept_update_with_its_reason(
    env: None, client: WebhookClient, redis_client: redis.Redis
) -> None:
    client.post({"update_id": 501, "poll_answer": {"poll_id": "1", "option_ids": [0]}})

    shown = run("list")

    assert "1 dead letter(s)" in shown
    assert "update 501  [poll_answer]" in shown
    assert "option_persistent_ids: Field required" in shown


def test_list_says_when_there_are_none(env: None, redis_client: redis.Redis) -> None:
    assert run("list") == "No dead letters.\n"


def test_replay_processes_what_now_validates_and_keeps_the_rest(
    env: None, redis_client: redis.Redis, telegram: FakeTelegram
) -> None:
    # Given one update an upgrade made valid, and one that is still broken
    now_valid = message_update("/help", chat_id=4040, update_id=601)
    still_broken = {"update_id": 602, "message": {"text": "no chat"}}
    for update in (now_valid, still_broken):
        redis_client.lpush(
            DEADLETTERS, json.dumps({"received_at": 1.0, "error": "old", "update": update})
        )

    shown = run("replay")

    # Then the valid one ran through the bot (its reply sent over the Bot API) and left
    assert "update 601: processed" in shown
    assert "update 602: still unprocessable" in shown
    assert "Replayed 1, kept 1." in shown
    [reply] = telegram.calls_to("sendMessage")
    assert reply.params["chat_id"] == "4040"
    assert "/cancel" in str(reply.params["text"])
    remaining = [
        json.loads(e)["update"]["update_id"] for e in redis_client.lrange(DEADLETTERS, 0, -1)
    ]
    assert remaining == [602]
    # and replaying again does not run it twice
    redis_client.lpush(
        DEADLETTERS, json.dumps({"received_at": 1.0, "error": "old", "update": now_valid})
    )
    assert "update 601: already processed" in run("replay")


def test_the_command_names_a_missing_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("BOT_TOKEN", "WEBHOOK_SECRET", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)

    assert main(["deadletter", "list"]) == 1
    shown = capsys.readouterr().err
    assert shown.startswith("error: invalid configuration")
    assert "BOT_TOKEN is not set" in shown
