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

import aiohttp

from lambdagram.ssm import sign_v4

TIMEOUT = 3.0
_CONTENT_TYPE = "application/x-amz-json-1.0"


class QueueError(RuntimeError):
    """SQS did not take the request; the message says why (no credentials in it)."""


class Queue:
    """One SQS queue, by URL; the HTTP session is made on first use."""

    def __init__(self, url: str, environ: Mapping[str, str]) -> None:
        self.url = url
        self.region = (
            environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or _region_of(url)
        )
        self.endpoint = (
            environ.get("AWS_ENDPOINT_URL_SQS")
            or environ.get("AWS_ENDPOINT_URL")
            or f"https://sqs.{self.region}.amazonaws.com"
        ).rstrip("/") + "/"
        self._credentials = (
            environ.get("AWS_ACCESS_KEY_ID", ""),
            environ.get("AWS_SECRET_ACCESS_KEY", ""),
            environ.get("AWS_SESSION_TOKEN"),
        )
        self._session: aiohttp.ClientSession | None = None

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
        body = json.dumps(request).encode()
        headers = {"Content-Type": _CONTENT_TYPE, "X-Amz-Target": f"AmazonSQS.{action}"}
        signed = sign_v4(
            "POST", self.endpoint, headers, body, self._credentials, self.region, "sqs"
        )
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT))
        try:
            async with self._session.post(self.endpoint, data=body, headers=signed) as answer:
                status, text = answer.status, await answer.read()
        except (aiohttp.ClientError, TimeoutError) as error:
            msg = f"cannot reach SQS at {self.endpoint} ({type(error).__name__}: {error})"
            raise QueueError(msg) from None
        try:
            parsed = json.loads(text) if text else {}
        except ValueError:
            parsed = {}
        if status != 200 or not isinstance(parsed, dict):
            kind = str(parsed.get("__type", "")).rpartition("#")[2] if parsed else ""
            detail = parsed.get("message") or parsed.get("Message") if parsed else None
            msg = f"SQS refused {action} on {self.url}: {status} {kind} {detail or ''}".rstrip()
            raise QueueError(msg)
        return parsed

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _region_of(url: str) -> str:
    """The region in a queue URL (``https://sqs.<region>.amazonaws.com/...``), else us-east-1."""
    host = url.split("/")[2] if url.count("/") >= 2 else ""
    parts = host.split(".")
    return parts[1] if len(parts) > 2 and parts[0] == "sqs" else "us-east-1"
