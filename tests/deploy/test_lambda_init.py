"""infra/localstack/lambda_init.py, the stand-in for LocalStack's Lambda init, on this host.

LocalStack's side of its executor protocol is played by a loopback server that records
what the init posts (ready, logs, response, error); the function is the packaged zip under
``awslambdaric``, as in the runtime image. The rehearsal itself (``make local-test``) runs
the same init inside LocalStack's containers.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lambdagram.local.events import lambda_event, message_update
from lambdagram.local.ports import free_port
from lambdagram.local.servers import JSONRequestHandler, LoopbackHTTPServer

from tests.conftest import SECRET
from tests.deploy.conftest import DIST, TEST_BOT

pytestmark = pytest.mark.slow

ROOT = DIST.parent
INIT = ROOT / "infra" / "localstack" / "lambda_init.py"
FUNCTION = "lambdagram-local-webhook"


class Executor(LoopbackHTTPServer):
    """LocalStack's executor endpoint: records each post of the init, in order."""

    def __init__(self) -> None:
        self.posts: queue.Queue[tuple[str, bytes]] = queue.Queue()
        posts = self.posts

        class Handler(JSONRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                posts.put((self.path, body))
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

        super().__init__(Handler)
        self.start()

    def next_post(self, timeout: float = 60) -> tuple[str, bytes]:
        return self.posts.get(timeout=timeout)


@pytest.fixture
def executor() -> Iterator[Executor]:
    server = Executor()
    yield server
    server.close()


@pytest.fixture
def init(
    task_root: Path,
    executor: Executor,
    bot_env: dict[str, str],
    redis_client: Any,
    tmp_path: Path,
) -> Iterator[int]:
    """The init running the packaged function; the port it takes invocations on."""
    ric = DIST / "ric"
    bootstrap = tmp_path / "bootstrap"
    python = getattr(sys, "_base_executable", sys.executable)
    bootstrap.write_text(f'#!/bin/sh\nexec {python} -S -m awslambdaric "$_HANDLER"\n')
    bootstrap.chmod(0o755)
    invoke_port = free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": f"{task_root}:{ric}",
        "LAMBDA_TASK_ROOT": str(task_root),
        "AWS_LAMBDA_FUNCTION_NAME": "lambdagram-local-webhook",
        "AWS_LAMBDA_FUNCTION_TIMEOUT": "20",
        "AWS_REGION": "eu-west-1",
        "_HANDLER": f"{TEST_BOT}.handler",
        "LOCALSTACK_RUNTIME_ENDPOINT": f"http://127.0.0.1:{executor.port}/_localstack_lambda/ex1",
        "LOCALSTACK_RUNTIME_ID": "ex1",
        "LAMBDAGRAM_INIT_RUNTIME_PORT": str(free_port()),
        "LAMBDAGRAM_INIT_INVOKE_PORT": str(invoke_port),
        "LAMBDAGRAM_INIT_BOOTSTRAP": str(bootstrap),
        **{**bot_env, "POWERTOOLS_LOG_LEVEL": "INFO"},
    }
    process = subprocess.Popen(
        [python, str(INIT)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    yield invoke_port
    process.kill()
    process.wait()


def invoke(port: int, request_id: str, event: dict[str, Any]) -> None:
    """What LocalStack's executor sends the init (``ExecutorEndpoint.invoke``)."""
    body = json.dumps({
        "invoke-id": request_id,
        "invoked-function-arn": f"arn:aws:lambda:eu-west-1:000000000000:function:{FUNCTION}",
        "payload": json.dumps(event),
        "trace-id": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
    }).encode()  # fmt: skip
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/invoke", data=body, method="POST",
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    for _ in range(100):  # the init may still be binding its port
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                assert response.status == 200
                return
        except ConnectionError:
            time.sleep(0.1)
        except urllib.error.URLError:
            time.sleep(0.1)
    pytest.fail("the init never took the invocation")


def test_it_reports_ready_then_each_invocations_logs_before_its_response(
    init: int, executor: Executor
) -> None:
    path, _ = executor.next_post()
    assert path == "/_localstack_lambda/ex1/status/ex1/ready"

    for n, text in enumerate(["/start", "Ada"], start=1):
        invoke(init, f"req-{n}", lambda_event(message_update(text, chat_id=77), secret=SECRET))
        logs_path, logs = executor.next_post()
        result_path, result = executor.next_post()

        assert logs_path == f"/_localstack_lambda/ex1/invocations/req-{n}/logs"
        assert result_path == f"/_localstack_lambda/ex1/invocations/req-{n}/response"
        response = json.loads(result)
        assert response["statusCode"] == 200
        lines = [json.loads(line) for line in json.loads(logs)["logs"].splitlines()]
        assert [line["message"] for line in lines if "message" in line] == ["update processed"]
        assert "Ada" in json.loads(response["body"])["text"] if n == 2 else True
