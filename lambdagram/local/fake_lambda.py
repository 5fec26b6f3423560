"""A fake Lambda Invoke API on loopback: asynchronous invocations run on a stand-in instance.

The function queues work for later with ``Invoke`` (``X-Amz-Invocation-Type: Event``, see
`lambdagram.deferred`). This server answers 202 as Lambda does, records the event, and hands
it to ``run`` in a thread of its own: tests pass a `LambdaProcess`'s ``invoke``, so the
deferred work runs in another OS process, as on Lambda. Point ``AWS_ENDPOINT_URL_LAMBDA`` at
`FakeLambda.url`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from lambdagram.local.servers import JSONRequestHandler, LoopbackHTTPServer

Runner = Callable[[dict[str, Any]], Any]


class FakeLambda(LoopbackHTTPServer):
    """The fake Invoke API; ``run`` executes each accepted event."""

    def __init__(self, run: Runner) -> None:
        self.events: list[dict[str, Any]] = []
        self.refusing: int | None = None  # a status to answer every invocation with instead
        self.asked = 0
        self.results: list[Any] = []
        self._threads: list[threading.Thread] = []
        fake = self

        class Handler(JSONRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                event = json.loads(self.rfile.read(length) or b"{}")
                fake.asked += 1
                if fake.refusing is not None:  # as Lambda refuses a role without the permission
                    message = "not authorized to perform: lambda:InvokeFunction"
                    self.reply_json(fake.refusing, {"Type": "User", "message": message})
                    return
                if self.headers.get("X-Amz-Invocation-Type") != "Event":
                    self.reply_json(400, {"message": "only asynchronous invocations here"})
                    return
                fake.accept(event, run)
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

        super().__init__(Handler)

    @property
    def url(self) -> str:
        """The endpoint to put in ``AWS_ENDPOINT_URL_LAMBDA``."""
        return f"http://127.0.0.1:{self.port}"

    def accept(self, event: dict[str, Any], run: Runner) -> None:
        """Record ``event`` and run it in the background."""
        self.events.append(event)
        thread = threading.Thread(target=lambda: self.results.append(run(event)), daemon=True)
        self._threads.append(thread)
        thread.start()

    def wait(self, timeout: float = 30.0) -> None:
        """Wait for every accepted invocation to finish."""
        for thread in list(self._threads):
            thread.join(timeout)
