"""The webhook's HTTP contract: what it answers to good and bad requests."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import redis
from aiogram import Router

from lambdagram.local.events import Shape, message_update

from tests.support.webhook import WebhookClient


def test_an_update_is_answered_200_with_the_reply_as_a_bot_api_method(
    client: WebhookClient,
) -> None:
    reply = client.say("/start")

    assert reply.status == 200
    assert reply.raw["headers"]["content-type"] == "application/json"
    assert reply.body == {
        "method": "sendMessage",
        "chat_id": 1001,
        "text": "Hi! Let's fill a short questionnaire. What's your name?",
        "parse_mode": "HTML",  # resolved from DefaultBotProperties, not Default("parse_mode")
    }
    assert reply.api_calls == []  # the reply rode in the response: no extra HTTPS round trip


def test_an_update_nobody_handles_gets_an_empty_200(client: WebhookClient) -> None:
    reply = client.post({"update_id": 5, "edited_message": message_update("x")["message"]})

    assert reply.status == 200
    assert reply.body == {}


@pytest.mark.parametrize(
    ("secret", "description"),
    [(None, "missing secret"), ("wrong-secret", "wrong secret"), ("", "empty secret")],
)
def test_a_wrong_or_missing_secret_is_refused_before_anything_else(
    client: WebhookClient, redis_client: redis.Redis, secret: str | None, description: str
) -> None:
    reply = client.post(message_update("/start"), secret=secret)

    assert reply.status == 401, description
    assert reply.body["error"] == "wrong_secret"
    assert "X-Telegram-Bot-Api-Secret-Token" in reply.body["description"]
    assert redis_client.dbsize() == 0
    assert reply.api_calls == []


def test_the_secret_is_checked_before_the_body_is_parsed(
    client: WebhookClient, redis_client: redis.Redis
) -> None:
    reply = client.post("{this is not json", secret="wrong")

    assert reply.status == 401
    assert redis_client.dbsize() == 0


BAD_BODIES: list[tuple[str, Any, str]] = [
    ("not JSON", "{this is not json", "not valid JSON"),
    ("empty", "", "not valid JSON"),
    ("not UTF-8", b"\xff\xfe\xfa", "not valid JSON"),
    ("a list", "[1, 2]", "not an object"),
    ("a string", '"update"', "not an object"),
    ("no update_id", {"message": {}}, "no integer update_id"),
    ("update_id a string", {"update_id": "1"}, "no integer update_id"),
    ("update_id a bool", {"update_id": True}, "no integer update_id"),
    ("update_id a float", {"update_id": 1.5}, "no integer update_id"),
]


@pytest.mark.parametrize(("case", "body", "reason"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_a_body_that_is_not_an_update_is_a_400_and_writes_nothing(
    client: WebhookClient, redis_client: redis.Redis, case: str, body: Any, reason: str
) -> None:
    reply = client.post(body)

    assert reply.status == 400, case
    assert reply.body["error"] == "bad_update"
    assert reason in reply.body["description"]
    assert redis_client.dbsize() == 0


def test_a_body_over_one_mebibyte_is_413(client: WebhookClient, redis_client: redis.Redis) -> None:
    huge = json.dumps({"update_id": 1, "padding": "x" * (1024 * 1024)})

    reply = client.post(huge)

    assert reply.status == 413
    assert reply.body["error"] == "payload_too_large"
    assert redis_client.dbsize() == 0


def test_a_body_under_the_limit_with_a_lying_content_length_is_read(
    client: WebhookClient,
) -> None:
    reply = client.post(message_update("/help"), headers={"Content-Length": "10"})

    assert reply.status == 200


def test_a_base64_encoded_body_is_decoded(client: WebhookClient) -> None:
    reply = client.post(message_update("/help"), base64_body=True)

    assert reply.status == 200
    assert "/cancel" in reply.text


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_methods_other_than_post_are_405(
    client: WebhookClient, redis_client: redis.Redis, method: str
) -> None:
    reply = client.post(message_update("/start"), method=method)

    assert reply.status == 405
    assert reply.body["error"] == "method_not_allowed"
    assert redis_client.dbsize() == 0


def test_unknown_paths_are_404(client: WebhookClient, redis_client: redis.Redis) -> None:
    reply = client.post(message_update("/start"), path="/admin")

    assert reply.status == 404
    assert reply.body["description"] == "no such path"
    assert redis_client.dbsize() == 0


def test_a_404_does_not_say_where_a_secret_webhook_path_is(
    make_client: Callable[..., WebhookClient], redis_client: redis.Redis
) -> None:
    """README "Floods" suggests an unguessable WEBHOOK_PATH: a wrong guess must not learn it."""
    hidden = "/hook-7f3a9c1e55d04b2b"
    client = make_client(lambda dp: dp.include_router(Router()), WEBHOOK_PATH=hidden)

    reply = client.post(message_update("/start"), path="/webhook")

    assert reply.status == 404
    assert hidden not in json.dumps(reply.body)
    assert client.post(message_update("/start"), path=hidden).status == 200


def test_a_handler_that_raises_is_answered_200_so_telegram_does_not_retry_it(
    make_client: Callable[..., WebhookClient], redis_client: redis.Redis
) -> None:
    router = Router()

    @router.message()
    async def broken(*_: object) -> None:
        raise RuntimeError("bug in a handler")

    client = make_client(lambda dp: dp.include_router(router))

    reply = client.say("/help")

    assert reply.status == 200
    assert reply.body == {"ok": True, "handled": False}


def body_of(size: int) -> bytes:
    """A JSON update of exactly ``size`` bytes."""
    head = b'{"update_id": 5, "padding": "'
    return head + b"x" * (size - len(head) - 2) + b'"}'


def test_a_body_of_exactly_the_limit_is_read_and_one_byte_more_is_not(
    client: WebhookClient,
) -> None:
    from lambdagram.app import MAX_BODY

    at_limit = client.post(body_of(MAX_BODY))
    over = client.post(body_of(MAX_BODY + 1))

    assert at_limit.status != 413
    assert over.status == 413


def test_each_size_check_refuses_alone(client: WebhookClient) -> None:
    from lambdagram.app import MAX_BODY

    # a small Content-Length, but the body is over the limit: the streaming count catches it
    lying = client.post(body_of(MAX_BODY + 1), headers={"Content-Length": "10"})
    # an honest Content-Length over the limit: refused before the body is read
    declared = client.post(body_of(100), headers={"Content-Length": str(MAX_BODY + 1)})

    assert (lying.status, lying.body["error"]) == (413, "payload_too_large")
    assert (declared.status, declared.body["error"]) == (413, "payload_too_large")
    assert "is over the" in lying.body["description"]
    assert f"body of {MAX_BODY + 1} bytes" in declared.body["description"]


@pytest.mark.parametrize("shape", ["function_url", "http_api", "rest_api"])
def test_each_event_shape_gets_the_scope_mangum_itself_would_build(shape: Shape) -> None:
    from mangum import Mangum
    from mangum.handlers.api_gateway import APIGateway, HTTPGateway

    from lambdagram.function import FunctionUrlEvent
    from lambdagram.local.events import LambdaContext, lambda_event

    event = lambda_event(message_update("hi"), secret="s", shape=shape)
    context = LambdaContext(timeout_ms=3000)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        """Never called: only the handlers' inference and scopes are compared."""

    ours = Mangum(app, lifespan="off", custom_handlers=[FunctionUrlEvent])
    theirs = Mangum(app, lifespan="off")

    handler = ours.infer(event, context)

    assert type(handler) is (FunctionUrlEvent if shape != "rest_api" else APIGateway)
    assert handler.scope == theirs.infer(event, context).scope
    assert isinstance(handler, HTTPGateway | APIGateway)
