"""Property-based fuzzing of the webhook body: never a 5xx, never an FSM write."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lambdagram.local.events import Shape, message_update

from tests.support.webhook import WebhookClient

UPDATE_KINDS = [
    "message", "edited_message", "channel_post", "callback_query", "inline_query",
    "chosen_inline_result", "shipping_query", "pre_checkout_query", "poll", "poll_answer",
    "my_chat_member", "chat_member", "chat_join_request", "message_reaction",
    "business_message", "purchased_paid_media", "unknown_future_kind",
]  # fmt: skip

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
update_ids = st.integers(min_value=-(2**63), max_value=2**63 - 1)
update_like = st.builds(
    lambda update_id, kinds: {"update_id": update_id, **kinds},
    update_ids,
    st.dictionaries(st.sampled_from(UPDATE_KINDS), json_values, max_size=2),
)
bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(json.dumps),
    update_like.map(json.dumps),
)
FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def shape() -> Shape:
    return "function_url"


def fsm_writes(redis_client: redis.Redis) -> list[Any]:
    return [*redis_client.keys("fsm:*"), *redis_client.keys("lg:*:lock")]


@FUZZ
@given(body=bodies)
def test_no_body_gets_a_5xx_or_writes_fsm_state(
    client: WebhookClient, redis_client: redis.Redis, body: str | bytes
) -> None:
    reply = client.post(body)

    assert reply.status in {200, 400}, reply.body
    assert fsm_writes(redis_client) == []
    if reply.status == 400:
        assert reply.body["error"] == "bad_update"


@FUZZ
@given(text=st.text(max_size=200).filter(lambda t: not t.startswith("/")))
def test_any_text_outside_a_dialog_is_answered_without_state(
    client: WebhookClient, redis_client: redis.Redis, text: str
) -> None:
    reply = client.post(message_update(text, chat_id=42))

    assert reply.status == 200
    assert fsm_writes(redis_client) == []


@FUZZ
@given(text=st.text(max_size=200))
def test_any_text_as_an_age_keeps_the_dialog_consistent(
    client: WebhookClient, redis_client: redis.Redis, text: str
) -> None:
    redis_client.set("fsm:{123456789:43}:43:state", "Form:age")
    redis_client.set("fsm:{123456789:43}:43:data", '{"name": "Ada"}')

    reply = client.post(message_update(text, chat_id=43))

    assert reply.status == 200
    state = redis_client.get("fsm:{123456789:43}:43:state")
    data = json.loads(redis_client.get("fsm:{123456789:43}:43:data") or "{}")
    if state == "Form:about":  # the test bot takes 1-3 digits as an age
        assert int(text.strip()) == data["age"]
    elif state == "Form:age":
        assert data == {"name": "Ada"}
    else:  # /start begins the form again
        assert text.split()[0] == "/start"
