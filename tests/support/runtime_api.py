"""A loopback stand-in for the Lambda Runtime API, to run a packaged function for real.

``awslambdaric`` (the runtime interface client every Python Lambda runs) polls
``/2018-06-01/runtime/invocation/next`` for an event and posts the handler's result to
``.../<request id>/response`` (or ``/error``); init failures go to ``/runtime/init/error``.
This server hands out the events it is given, one at a time, and records what comes back.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from lambdagram.local.servers import JSONRequestHandler, LoopbackHTTPServer

PREFIX = "/2018-06-01/runtime"
ARN = "arn:aws:lambda:eu-west-1:123456789012:function:lambdagram-ci-webhook"


@dataclass
class _Shared:
    events: queue.Queue[tuple[str, dict[str, Any]]] = field(default_factory=queue.Queue)
    results: dict[str, queue.Queue[tuple[str, Any]]] = field(default_factory=dict)
    init_error: Any = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class RuntimeAPI(LoopbackHTTPServer):
    """The Runtime API server, serving once made; `invoke` queues an event and waits for
    its result."""

    def __init__(self) -> None:
        self.shared = _Shared()
        super().__init__(type("Handler", (_Handler,), {"shared": self.shared}))
        self.start()

    @property
    def address(self) -> str:
        """What goes into ``AWS_LAMBDA_RUNTIME_API``."""
        return f"127.0.0.1:{self.port}"

    @property
    def init_error(self) -> Any:
        return self.shared.init_error

    def invoke(self, event: dict[str, Any], timeout: float = 60) -> tuple[str, Any]:
        """Queue ``event``; ``("response", body)`` or ``("error", body)`` when it is done."""
        request_id = str(uuid.uuid4())
        done: queue.Queue[tuple[str, Any]] = queue.Queue()
        with self.shared.lock:
            self.shared.results[request_id] = done
        self.shared.events.put((request_id, event))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.shared.init_error is not None:
                return "init_error", self.shared.init_error
            try:
                return done.get(timeout=0.2)
            except queue.Empty:
                continue
        msg = f"no result for invocation {request_id} within {timeout} s"
        raise TimeoutError(msg)


class _Handler(JSONRequestHandler):
    shared: _Shared

    def do_GET(self) -> None:
        if self.path != f"{PREFIX}/invocation/next":
            self.reply_json(404, {"errorMessage": "unknown path"})
            return
        request_id, event = self.shared.events.get()  # long poll, as the real API does
        headers = {
            "Lambda-Runtime-Aws-Request-Id": request_id,
            "Lambda-Runtime-Deadline-Ms": str(int(time.time() * 1000) + 20_000),
            "Lambda-Runtime-Invoked-Function-Arn": ARN,
            "Lambda-Runtime-Trace-Id": "Root=1-00000000-000000000000000000000000",
        }
        self.reply_json(200, event, headers)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        decoded = json.loads(body) if body else None
        if self.path == f"{PREFIX}/init/error":
            self.shared.init_error = decoded
        else:
            parts = self.path.removeprefix(f"{PREFIX}/invocation/").split("/")
            with self.shared.lock:
                done = self.shared.results.get(parts[0])
            if done is None or len(parts) != 2:
                self.reply_json(404, {"errorMessage": "unknown invocation"})
                return
            done.put((parts[1], decoded))
        self.reply_json(202, {"status": "OK"})
