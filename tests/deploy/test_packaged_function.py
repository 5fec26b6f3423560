"""The packaged zip, run the way Lambda runs it: awslambdaric against the Runtime API.

The zip is unpacked into a task directory and started with only that directory and the
runtime interface client on the path (no project source, no virtualenv), so a module left
out of the package or a wrong handler path fails here instead of after a deploy. The dialog
runs the engine's test bot, copied into the task root beside whatever bot the zip carries;
the zip's own ``handler.handler`` is checked to answer whatever bot ``bot/`` holds.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lambdagram.local.events import lambda_event, message_update, response_json
from lambdagram.local.fake_telegram import FakeTelegram

from tests.conftest import SECRET
from tests.deploy.conftest import DIST, TEST_BOT
from tests.support.runtime_api import RuntimeAPI

pytestmark = pytest.mark.slow


@pytest.fixture
def runtime_api() -> Iterator[RuntimeAPI]:
    api = RuntimeAPI()
    yield api
    api.close()


@pytest.fixture
def function(
    task_root: Path, runtime_api: RuntimeAPI, bot_env: dict[str, str], redis_client: Any
) -> Iterator[subprocess.Popen[bytes]]:
    """The packaged engine running the engine's test bot."""
    yield from run_function(f"{TEST_BOT}.handler", task_root, runtime_api, bot_env)


@pytest.fixture
def packaged_handler(
    task_root: Path, runtime_api: RuntimeAPI, bot_env: dict[str, str], redis_client: Any
) -> Iterator[subprocess.Popen[bytes]]:
    """The zip's own entry point, ``handler.handler``, with the bot the zip carries."""
    yield from run_function("handler.handler", task_root, runtime_api, bot_env)


def run_function(
    handler: str, task_root: Path, runtime_api: RuntimeAPI, bot_env: dict[str, str]
) -> Iterator[subprocess.Popen[bytes]]:
    ric = DIST / "ric"
    if not (ric / "awslambdaric").is_dir():
        pytest.fail(f"{ric} has no awslambdaric: run `make package-native`")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": f"{task_root}:{ric}",
        "LAMBDA_TASK_ROOT": str(task_root),
        "AWS_LAMBDA_RUNTIME_API": runtime_api.address,
        "AWS_LAMBDA_FUNCTION_NAME": "lambdagram-ci-webhook",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/lambdagram-ci-webhook",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/11/26/[$LATEST]ci",
        "AWS_REGION": "eu-west-1",
        "_HANDLER": handler,
        **bot_env,
    }
    # the base interpreter with -S: nothing but the stdlib, the task root and the client
    python = getattr(sys, "_base_executable", sys.executable)
    process = subprocess.Popen(
        [python, "-S", "-m", "awslambdaric", handler],
        cwd=task_root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    yield process
    process.kill()
    process.wait()


def test_the_packaged_function_answers_a_whole_dialog_warm(
    function: subprocess.Popen[bytes], runtime_api: RuntimeAPI, telegram: FakeTelegram
) -> None:
    replies = []
    for text in ["/start", "Grace Hopper", "85", "I found a moth"]:
        event = lambda_event(message_update(text, chat_id=6060), secret=SECRET)
        kind, response = runtime_api.invoke(event)
        assert kind == "response", response
        assert response["statusCode"] == 200
        replies.append(response_json(response))

    assert function.poll() is None  # one process served every invocation
    assert replies[0]["method"] == "sendMessage"
    assert "Grace Hopper" in replies[1]["text"]
    assert replies[3]["text"] == "Thanks! Send /start to fill it again."
    summary = str(telegram.calls_to("sendMessage")[-1].params["text"])
    assert "Name: Grace Hopper" in summary
    assert "Age: 85" in summary


def test_the_packaged_function_refuses_a_wrong_secret(
    function: subprocess.Popen[bytes], runtime_api: RuntimeAPI
) -> None:
    kind, response = runtime_api.invoke(lambda_event(message_update("/start"), secret="nope"))

    assert kind == "response"
    assert response["statusCode"] == 401


def test_the_zips_own_entry_point_answers_an_update_with_the_bot_it_carries(
    packaged_handler: subprocess.Popen[bytes], runtime_api: RuntimeAPI
) -> None:
    kind, response = runtime_api.invoke(lambda_event(message_update("/start"), secret=SECRET))

    assert kind == "response", response
    assert response["statusCode"] == 200
    assert packaged_handler.poll() is None
