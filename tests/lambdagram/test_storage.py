"""FSM keys: one cluster slot per chat, and TTLs so abandoned dialogs expire."""

from __future__ import annotations

import pytest
import redis
from aiogram.fsm.storage.base import StorageKey

from lambdagram.storage import ChatSlotKeyBuilder

from tests.support.webhook import WebhookClient


def test_keys_carry_the_chat_as_a_cluster_hash_tag() -> None:
    build = ChatSlotKeyBuilder().build
    key = StorageKey(bot_id=42, chat_id=-100123, user_id=7)

    assert build(key, "state") == "fsm:{42:-100123}:7:state"
    assert build(key, "data") == "fsm:{42:-100123}:7:data"
    assert build(key) == "fsm:{42:-100123}:7"


def test_threads_business_connections_and_destinies_get_their_own_keys() -> None:
    build = ChatSlotKeyBuilder().build
    key = StorageKey(
        bot_id=42, chat_id=5, user_id=7, thread_id=9, business_connection_id="bc", destiny="x"
    )

    assert build(key, "data") == "fsm:{42:5}:bbc:t9:7:dx:data"


@pytest.mark.parametrize("shape", ["function_url"])
def test_state_and_data_expire_after_the_configured_ttls(
    client: WebhookClient, redis_client: redis.Redis
) -> None:
    client.say("/start")
    client.say("Ada")

    state_ttl = redis_client.ttl("fsm:{123456789:1001}:1001:state")
    data_ttl = redis_client.ttl("fsm:{123456789:1001}:1001:data")

    assert 0 < state_ttl <= 7 * 24 * 3600
    assert 0 < data_ttl <= 7 * 24 * 3600
