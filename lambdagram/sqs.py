"""The long-work queue's client: SQS's JSON protocol, SigV4-signed, on aiohttp (no boto3).

Two calls: ``SendMessage`` (the webhook puts a long update on the chat's FIFO message
group) and ``ChangeMessageVisibility`` (the worker hands back a message it could not run yet,
to be tried again soon instead of after the whole visibility timeout). The endpoint follows
the AWS SDKs' standard variables: ``AWS_ENDPOINT_URL_SQS``, then ``AWS_ENDPOINT_URL``, else
``https://sqs.<region>.amazonaws.com``; credentials come from the environment, as Lambda
provides them. One keep-alive connection per process: imported only by bots with long
handlers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from lambdagram.aws_http import SignedClient, Unreachable, error_of
from lambdagram.failures import ServiceError

TIMEOUT = 3.0
_CONTENT_TYPE = "application/x-amz-json-1.0"


class QueueError(ServiceError):
    """SQS did not take the request; the message says why (no credentials in it)."""


class Queue:
    """One SQS queue, by URL."""

    def __init__(self, url: str, environ: Mapping[str, str]) -> None:
        self.url = url
        self._client = SignedClient("sqs", environ, _region_of(url), timeout=TIMEOUT)
        self.endpoint = self._client.endpoint + "/"

    async def send(self, body: str, group: str, dedupe_id: str) -> str:
        """Put ``body`` on message group ``group`` (a FIFO queue); the message's id."""
        answer = await self._call(
            "SendMessage",
            {
                "QueueUrl": self.url,
                "MessageBody": body,
                "MessageGroupId": group,
                "MessageDeduplicationId": dedupe_id,
            },
        )
        return str(answer.get("MessageId", ""))

    async def change_visibility(self, receipt_handle: str, seconds: int) -> None:
        """Make a received message visible again in ``seconds`` (0-43200)."""
        await self._call(
            "ChangeMessageVisibility",
            {"QueueUrl": self.url, "ReceiptHandle": receipt_handle, "VisibilityTimeout": seconds},
        )

    async def _call(self, action: str, request: dict[str, Any]) -> dict[str, Any]:
        headers = {"Content-Type": _CONTENT_TYPE, "X-Amz-Target": f"AmazonSQS.{action}"}
        try:
            status, answer = await self._client.request(
                "POST", self.endpoint, headers, json.dumps(request).encode()
            )
        except Unreachable as error:
            raise QueueError(str(error)) from None
        if status != 200:
            kind, detail = error_of(answer)
            msg = f"SQS refused {action} on {self.url}: {status} {kind} {detail}".rstrip()
            raise QueueError(msg)
        return answer

    async def close(self) -> None:
        await self._client.close()


def _region_of(url: str) -> str:
    """The region in a queue URL (``https://sqs.<region>.amazonaws.com/...``), else ''."""
    host = url.split("/")[2] if url.count("/") >= 2 else ""
    parts = host.split(".")
    return parts[1] if len(parts) > 2 and parts[0] == "sqs" else ""
