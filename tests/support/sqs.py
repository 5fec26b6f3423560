"""A real SQS API on loopback (moto's server in its own process) and the event source
mapping's part: receive a batch, hand it to the worker as Lambda's SQS event, delete what
the partial batch response does not name."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from botocore.config import Config
from botocore.session import Session

from lambdagram.local.ports import free_port

REGION = "eu-west-1"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


class MotoServer:
    """``python -m moto.server`` on a free loopback port, stopped on exit."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> MotoServer:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{self.url}/moto-api/data.json", timeout=1).close()
                return self
            except OSError:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    msg = "moto's server did not start (pip install 'moto[server]')"
                    raise RuntimeError(msg) from None
                time.sleep(0.1)

    def __exit__(self, *_: object) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(10)

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        urllib.request.urlopen(request, timeout=5).close()


def sqs_client(endpoint: str) -> Any:
    """botocore's own SQS client, pointed at ``endpoint`` (to look at the queue)."""
    return Session().create_client(
        "sqs",
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        config=Config(retries={"max_attempts": 1}),
    )


@dataclass
class FifoQueue:
    """A FIFO queue on the server, and the event source mapping's loop over it."""

    client: Any
    url: str
    arn: str
    batches: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def create(cls, client: Any, name: str = "long-work.fifo", visibility: int = 30) -> FifoQueue:
        url = client.create_queue(
            QueueName=name,
            Attributes={"FifoQueue": "true", "VisibilityTimeout": str(visibility)},
        )["QueueUrl"]
        arn = client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        return cls(client, url, arn)

    def receive(self, most: int = 10, wait: int = 0) -> dict[str, Any]:
        """A batch as Lambda's event source mapping hands it to the function (its shape:
        the Lambda developer guide's "Example Amazon SQS message event")."""
        messages = self.client.receive_message(
            QueueUrl=self.url,
            MaxNumberOfMessages=most,
            WaitTimeSeconds=wait,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        event = {"Records": [self._record(m) for m in messages]}
        self.batches.append(event)
        return event

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": message.get("MessageAttributes", {}),
            "md5OfBody": message["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": self.arn,
            "awsRegion": REGION,
        }

    def settle(self, event: dict[str, Any], response: dict[str, Any]) -> None:
        """Delete the batch's records the worker did not name as failed (as Lambda does)."""
        failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
        for record in event["Records"]:
            if record["messageId"] not in failed:
                self.client.delete_message(
                    QueueUrl=self.url, ReceiptHandle=record["receiptHandle"]
                )

    def holds(self) -> int:
        """How many messages the queue holds, visible or taken and not yet deleted (a killed
        worker's message comes back once its visibility timeout has passed)."""
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        counts = self.client.get_queue_attributes(QueueUrl=self.url, AttributeNames=names)
        return sum(int(count) for count in counts["Attributes"].values())

    def bodies(self) -> list[dict[str, Any]]:
        """The messages now visible, without taking them (made visible again at once)."""
        messages = self.client.receive_message(
            QueueUrl=self.url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]
        ).get("Messages", [])
        for message in messages:
            self.client.change_message_visibility(
                QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )
        return [{**json.loads(m["Body"]), "attributes": m["Attributes"]} for m in messages]
