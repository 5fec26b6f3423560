"""A stand-in for the long-work FIFO queue, for the local tools (chat, dev, demo).

It speaks the two calls the function makes (SQS's JSON protocol: ``SendMessage``,
``ChangeMessageVisibility``) on loopback, keeps SQS FIFO's rules (deduplication ids for five
minutes; within a message group, one message in flight at a time and in order; a message
not deleted comes back when its visibility timeout ends), and plays the event source
mapping's part with `drain`: receive a batch, hand it to the worker as Lambda's SQS event,
delete what the partial batch response does not name. Point ``AWS_ENDPOINT_URL_SQS`` at
`FakeSQS.url` and ``LONG_WORK_QUEUE_URL`` at `FakeSQS.queue_url`. Never deployed.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lambdagram.local.servers import JSONRequestHandler, LoopbackHTTPServer

DEDUPE_WINDOW = 300.0  # seconds, as SQS FIFO
Worker = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass
class _Message:
    body: str
    group: str
    dedupe_id: str
    sequence: int
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    receipt: str = ""
    received: int = 0
    visible_at: float = 0.0
    sent_at: float = field(default_factory=time.time)


class FakeSQS(LoopbackHTTPServer):
    """One FIFO queue on loopback, and the event source mapping that feeds `drain`'s worker."""

    def __init__(self, visibility: float = 30.0, name: str = "local-long-work.fifo") -> None:
        self.visibility = visibility
        self.name = name
        self.messages: list[_Message] = []
        self.sent = 0
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()
        self._sequence = 0
        fake = self

        class Handler(JSONRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = json.loads(self.rfile.read(length) or b"{}")
                action = self.headers.get("X-Amz-Target", "").rpartition(".")[2]
                status, answer = fake.answer(action, request)
                self.reply_json(status, answer)

        super().__init__(Handler)

    @property
    def url(self) -> str:
        """The endpoint for ``AWS_ENDPOINT_URL_SQS``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def queue_url(self) -> str:
        """The queue's URL, for ``LONG_WORK_QUEUE_URL``."""
        return f"{self.url}/000000000000/{self.name}"

    def answer(self, action: str, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """SQS's answer to one call (the JSON protocol's status and body)."""
        if request.get("QueueUrl") != self.queue_url:
            return 400, _error("QueueDoesNotExist", "The specified queue does not exist.")
        with self._lock:
            if action == "SendMessage":
                return 200, self._send(request)
            if action == "ChangeMessageVisibility":
                for message in self.messages:
                    if message.receipt and message.receipt == request.get("ReceiptHandle"):
                        message.visible_at = time.monotonic() + int(request["VisibilityTimeout"])
                        return 200, {}
                return 400, _error("ReceiptHandleIsInvalid", "The receipt handle is not valid.")
        return 400, _error("InvalidAction", f"{action} is not served by the stand-in queue")

    def _send(self, request: dict[str, Any]) -> dict[str, Any]:
        now = time.monotonic()
        dedupe_id = str(request["MessageDeduplicationId"])
        body = str(request["MessageBody"])
        md5 = hashlib.md5(body.encode(), usedforsecurity=False).hexdigest()
        if now - self._seen.get(dedupe_id, -DEDUPE_WINDOW) < DEDUPE_WINDOW:
            return {"MessageId": str(uuid.uuid4()), "MD5OfMessageBody": md5}  # dropped, as SQS
        self._seen[dedupe_id] = now
        self._sequence += 1
        message = _Message(body, str(request["MessageGroupId"]), dedupe_id, self._sequence)
        self.messages.append(message)
        self.sent += 1
        return {"MessageId": message.id, "MD5OfMessageBody": md5}

    def receive(self, most: int = 10) -> dict[str, Any]:
        """A batch as the event source mapping hands it to the function (FIFO's order)."""
        now = time.monotonic()
        batch: list[_Message] = []
        with self._lock:
            busy = {m.group for m in self.messages if m.received and m.visible_at > now}
            for message in self.messages:
                if len(batch) >= most:
                    break
                if message.group in busy or message.visible_at > now:
                    busy.add(message.group)  # a group's later messages wait behind it
                    continue
                message.received += 1
                message.receipt = secrets.token_urlsafe(24)
                message.visible_at = now + self.visibility
                batch.append(message)
        return {"Records": [self._record(m) for m in batch]}

    def settle(self, event: dict[str, Any], response: dict[str, Any]) -> None:
        """Delete the records the worker did not name as failed (what Lambda does)."""
        failed = {f.get("itemIdentifier") for f in response.get("batchItemFailures", [])}
        done = {r["messageId"] for r in event["Records"]} - failed
        with self._lock:
            self.messages = [m for m in self.messages if m.id not in done]

    def drain(self, worker: Worker, *, patience: float = 120.0) -> int:
        """Run the worker on every message until the queue is empty (messages handed back are
        waited for, up to ``patience`` seconds in all); the number of worker invocations."""
        deadline = time.monotonic() + patience
        invocations = 0
        while self.messages and time.monotonic() < deadline:
            event = self.receive()
            if not event["Records"]:
                time.sleep(0.05)
                continue
            invocations += 1
            try:
                response = worker(event)
            except Exception:  # the worker crashed: its messages come back after the timeout
                continue
            self.settle(event, response)
        return invocations

    def _record(self, message: _Message) -> dict[str, Any]:
        return {
            "messageId": message.id,
            "receiptHandle": message.receipt,
            "body": message.body,
            "attributes": {
                "ApproximateReceiveCount": str(message.received),
                "SentTimestamp": str(int(message.sent_at * 1000)),
                "SequenceNumber": str(message.sequence).rjust(20, "0"),
                "MessageGroupId": message.group,
                "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                "MessageDeduplicationId": message.dedupe_id,
                "ApproximateFirstReceiveTimestamp": str(int(time.time() * 1000)),
            },
            "messageAttributes": {},
            "md5OfBody": hashlib.md5(message.body.encode(), usedforsecurity=False).hexdigest(),
            "eventSource": "aws:sqs",
            "eventSourceARN": f"arn:aws:sqs:local:000000000000:{self.name}",
            "awsRegion": "local",
        }


def _error(kind: str, message: str) -> dict[str, Any]:
    return {"__type": f"com.amazonaws.sqs#{kind}", "message": message}


def environment(queue: FakeSQS) -> dict[str, str]:
    """The variables that point the function at ``queue`` (dummy credentials: it signs)."""
    return {
        "LONG_WORK_QUEUE_URL": queue.queue_url,
        "AWS_ENDPOINT_URL_SQS": queue.url,
        "AWS_REGION": "local",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
    }
