"""Every kind of update Telegram sends is answered 200: handled, ignored or dead-lettered."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.support.webhook import WebhookClient

EVENTS = sorted((Path(__file__).parent / "events").glob("*.json"))


def load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def test_the_corpus_covers_every_outcome() -> None:
    outcomes = {load(path)["expect"] for path in EVENTS}

    assert outcomes == {"handled", "ignored", "dead_letter"}
    assert len(EVENTS) >= 30


@pytest.mark.parametrize("path", EVENTS, ids=[p.stem for p in EVENTS])
def test_each_update_is_answered_200(
    client: WebhookClient, redis_client: redis.Redis, path: Path
) -> None:
    case = load(path)

    reply = client.post(case["update"])

    assert reply.status == 200, reply.body
    if case["expect"] == "handled":
        assert reply.body["method"] == "sendMessage"
    elif case["expect"] == "ignored":
        assert reply.body == {}
        assert redis_client.keys("fsm:*") == []
    else:
        assert reply.body == {"ok": True, "dead_letter": True}
        assert redis_client.keys("fsm:*") == []
        assert redis_client.llen("lg:{123456789}:deadletter") == 1
