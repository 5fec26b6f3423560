"""Internal events (the function's asynchronous invocations of itself), under the real runtime
interface client: what leaves the handler reaches CloudWatch and Lambda's failure record as it
is, so it carries no secret; an event that is not one of ours is refused, not retried."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from lambdagram.local.events import photo_update
from lambdagram.local.fake_telegram import FakeTelegram
from lambdagram.local.lambda_process import ROOT

from tests.conftest import SECRET, TOKEN
from tests.support.runtime_api import RuntimeAPI

pytestmark = pytest.mark.slow

TOKEN_SECRET = TOKEN.partition(":")[2]
ALBUM_BOT = "tests.support.bots.album"


class Function:
    """The album bot under awslambdaric, against a stand-in Runtime API; its output kept."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.api = RuntimeAPI()
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "awslambdaric", f"{ALBUM_BOT}.handler"],
                cwd=ROOT,
                env={
                    **os.environ,
                    **env,
                    "PYTHONPATH": str(ROOT),
                    "AWS_LAMBDA_RUNTIME_API": self.api.address,
                    "AWS_LAMBDA_FUNCTION_NAME": "lambdagram-ci-webhook",
                    "AWS_REGION": "eu-west-1",
                    "ALBUM_WAIT": "0.1",
                    "POWERTOOLS_LOG_LEVEL": "INFO",
                },
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def invoke(self, event: dict[str, Any]) -> tuple[str, Any]:
        return self.api.invoke(event)

    def printed(self) -> str:
        return self.log.read_text()

    def close(self) -> None:
        self.process.kill()
        self.process.wait()
        self.api.close()


@pytest.fixture
def function(
    bot_env: dict[str, str], redis_client: redis.Redis, tmp_path: Path
) -> Iterator[Function]:
    running = Function(bot_env, tmp_path / "function.log")
    yield running
    running.close()


def stored_album(redis_client: redis.Redis, chat_id: int = 1001) -> dict[str, Any]:
    """An album of one part, stored as the webhook stores parts, its last part long ago."""
    part = photo_update(chat_id=chat_id, media_group_id="g-internal", caption="a")
    base = f"lg:{{123456789:{chat_id}}}:album:g-internal"
    redis_client.hset(base, str(part["message"]["message_id"]), json.dumps(part))
    redis_client.set(f"{base}:last", int((time.time() - 60) * 1000))
    return part


def test_a_closer_failing_on_a_bot_api_redirect_loop_lets_no_secret_out(
    function: Function, telegram: FakeTelegram, redis_client: redis.Redis
) -> None:
    # Given a stored album and a Bot API that redirects for ever (aiohttp's error quotes the URL)
    part = stored_album(redis_client)
    telegram.redirect_loop("sendMessage")

    # When its closer runs and fails
    kind, record = function.invoke({"lambdagram": {"album": part}})

    # Then Lambda is told it failed (so it retries), and neither its record nor the output
    # (CloudWatch) holds the token
    assert kind == "error"
    assert record["errorType"] == "DeferredWorkFailed"
    assert "bot_api_unavailable" in record["errorMessage"]
    printed = function.printed()
    assert "album not closed; Lambda retries" in printed
    for secret in (TOKEN_SECRET, SECRET):
        assert secret not in json.dumps(record)
        assert secret not in printed


@pytest.mark.parametrize(
    "payload",
    [
        {"resize": {"file": "x"}},
        {"album": {"update_id": 5, "message": {"text": "no chat"}}},
        {"album": {"update_id": 6, "message": photo_update()["message"]}},
        "album",
    ],
    ids=["unknown-kind", "invalid-update", "no-media-group", "not-an-object"],
)
def test_a_malformed_internal_event_is_refused_with_a_log_line_and_not_retried(
    payload: Any, function: Function
) -> None:
    kind, result = function.invoke({"lambdagram": payload})

    assert kind == "response", result  # a success for Lambda: nothing to retry
    assert result["error"] == "bad_internal_event"
    assert "internal event refused" in function.printed()
    assert "AssertionError" not in function.printed()
