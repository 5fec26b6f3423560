"""Telegram updates and the Lambda events that carry them, in AWS's real shapes.

Three shapes reach a webhook function: a Lambda Function URL (payload format 2.0, lower-case
headers), an API Gateway HTTP API (also 2.0, with a route key) and an API Gateway REST API
(payload 1.0, headers as sent, plus ``multiValueHeaders``).
"""

from __future__ import annotations

import base64
import itertools
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

Shape = Literal["function_url", "http_api", "rest_api"]
SHAPES: tuple[Shape, ...] = ("function_url", "http_api", "rest_api")
TELEGRAM_IP = "149.154.167.220"
_update_ids = itertools.count(int(time.time()) % 100_000 * 1000)


def next_update_id() -> int:
    """A fresh update id, increasing like Telegram's."""
    return next(_update_ids)


def message_update(
    text: str | None,
    *,
    chat_id: int = 1001,
    user_id: int | None = None,
    update_id: int | None = None,
    first_name: str = "Alice",
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A private-chat message update as Telegram sends it; ``text=None`` for a sticker."""
    user_id = chat_id if user_id is None else user_id
    message: dict[str, Any] = {
        "message_id": next_update_id() % 1_000_000,
        "from": {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": "en"},
        "chat": {"id": chat_id, "first_name": first_name, "type": "private"}
        if chat_id > 0
        else {"id": chat_id, "title": "Group", "type": "supergroup"},
        "date": int(time.time()),
    }
    if text is None:
        message["sticker"] = {
            "file_id": "CAACAgIAAxkBAAEB",
            "file_unique_id": "AgADBAADL",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
        }
    else:
        message["text"] = text
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [{"offset": 0, "length": len(command), "type": "bot_command"}]
    message.update(extra or {})
    return {"update_id": next_update_id() if update_id is None else update_id, "message": message}


def photo_update(
    *,
    chat_id: int = 1001,
    media_group_id: str | None = None,
    caption: str | None = None,
    update_id: int | None = None,
) -> dict[str, Any]:
    """A private-chat photo (part of album ``media_group_id`` if given), as Telegram sends it."""
    n = next_update_id()
    extra: dict[str, Any] = {
        "photo": [
            {
                "file_id": f"AgACphoto{n}_{w}",
                "file_unique_id": f"AQAD{n}{w}",
                "width": w,
                "height": w * 3 // 4,
                "file_size": w * 40,
            }
            for w in (90, 320, 1280)
        ]
    }
    if media_group_id is not None:
        extra["media_group_id"] = media_group_id
    if caption is not None:
        extra["caption"] = caption
    update = message_update(None, chat_id=chat_id, update_id=update_id, extra=extra)
    del update["message"]["sticker"]
    return update


def callback_update(
    data: str,
    *,
    message_id: int,
    chat_id: int = 1001,
    text: str = "",
    update_id: int | None = None,
    first_name: str = "Alice",
) -> dict[str, Any]:
    """A user in ``chat_id`` pressing an inline button with ``data`` under the bot's message."""
    user = {"id": chat_id, "is_bot": False, "first_name": first_name, "language_code": "en"}
    return {
        "update_id": next_update_id() if update_id is None else update_id,
        "callback_query": {
            "id": f"{chat_id}{next_update_id()}",
            "from": user,
            "chat_instance": f"-{chat_id}77",
            "data": data,
            "message": {
                "message_id": message_id,
                "from": {"id": 123456789, "is_bot": True, "first_name": "Bot"},
                "chat": {"id": chat_id, "first_name": first_name, "type": "private"},
                "date": int(time.time()),
                "text": text or "(a message with buttons)",
            },
        },
    }


def lambda_event(
    body: dict[str, Any] | str | bytes,
    *,
    shape: Shape = "function_url",
    secret: str | None = None,
    method: str = "POST",
    path: str = "/webhook",
    headers: dict[str, str] | None = None,
    base64_body: bool = False,
    source_ip: str = TELEGRAM_IP,
) -> dict[str, Any]:
    """A Lambda event carrying ``body`` as Telegram would POST it to the webhook (from
    ``source_ip``, one of Telegram's addresses unless told otherwise)."""
    raw = json.dumps(body).encode() if isinstance(body, dict) else body
    raw = raw.encode() if isinstance(raw, str) else raw
    sent = {"Content-Type": "application/json", "Content-Length": str(len(raw))}
    if secret is not None:
        sent["X-Telegram-Bot-Api-Secret-Token"] = secret
    sent.update(headers or {})
    encoded = base64.b64encode(raw).decode() if base64_body else raw.decode("utf-8", "replace")
    if shape == "rest_api":
        event = _rest_api_event(encoded, base64_body, sent, method, path)
        event["requestContext"]["identity"]["sourceIp"] = source_ip
        event["headers"]["X-Forwarded-For"] = source_ip
        event["multiValueHeaders"]["X-Forwarded-For"] = [source_ip]
        return event
    event = _v2_event(encoded, base64_body, sent, method, path, shape)
    event["requestContext"]["http"]["sourceIp"] = source_ip
    event["headers"]["x-forwarded-for"] = source_ip
    return event


def _v2_event(
    body: str, b64: bool, headers: dict[str, str], method: str, path: str, shape: Shape
) -> dict[str, Any]:
    now = time.time()
    if shape == "function_url":
        api_id, domain, route_key = "abcdefghijklmnop", "lambda-url.eu-west-1.on.aws", "$default"
    else:
        api_id, domain, route_key = (
            "a1b2c3d4e5",
            "execute-api.eu-west-1.amazonaws.com",
            f"{method} {path}",
        )
    lowered = {name.lower(): value for name, value in headers.items()}
    lowered.setdefault("host", f"{api_id}.{domain}")
    lowered.setdefault("x-forwarded-for", TELEGRAM_IP)
    lowered.setdefault("x-forwarded-proto", "https")
    return {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": "",
        "headers": lowered,
        "requestContext": {
            "accountId": "anonymous" if shape == "function_url" else "123456789012",
            "apiId": api_id,
            "domainName": f"{api_id}.{domain}",
            "domainPrefix": api_id,
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": TELEGRAM_IP,
                "userAgent": "",
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": route_key,
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "body": body,
        "isBase64Encoded": b64,
    }


def _rest_api_event(
    body: str, b64: bool, headers: dict[str, str], method: str, path: str
) -> dict[str, Any]:
    sent = dict(headers)
    sent.setdefault("Host", "a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com")
    sent.setdefault("X-Forwarded-For", TELEGRAM_IP)
    sent.setdefault("X-Forwarded-Proto", "https")
    sent.setdefault("X-Forwarded-Port", "443")
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": sent,
        "multiValueHeaders": {name: [value] for name, value in sent.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "a1b2c3d4e5",
            "resourceId": "abc123",
            "resourcePath": path,
            "httpMethod": method,
            "path": f"/prod{path}",
            "protocol": "HTTP/1.1",
            "stage": "prod",
            "requestId": str(uuid.uuid4()),
            "requestTimeEpoch": int(time.time() * 1000),
            "identity": {"sourceIp": TELEGRAM_IP, "userAgent": None},
            "domainName": "a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com",
        },
        "body": body,
        "isBase64Encoded": b64,
    }


@dataclass
class LambdaContext:
    """The fields of Lambda's context object that libraries read."""

    function_name: str = "lambdagram-dev-webhook"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 128
    invoked_function_arn: str = (
        "arn:aws:lambda:eu-west-1:123456789012:function:lambdagram-dev-webhook"
    )
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/lambdagram-dev-webhook"
    log_stream_name: str = "2026/11/26/[$LATEST]0123456789abcdef"
    client_context: Any = None
    identity: Any = None
    timeout_ms: int = 25_000
    _started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self.timeout_ms - int((time.monotonic() - self._started) * 1000))


def response_json(response: dict[str, Any]) -> Any:
    """The decoded JSON body of a Lambda proxy response."""
    body = response.get("body") or ""
    if response.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    return json.loads(body) if body else None
