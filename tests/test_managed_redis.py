"""Managed-Redis variants: TLS (``rediss://``) and Redis Cluster (ElastiCache Serverless)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lambdagram.local.events import message_update
from lambdagram.local.fake_telegram import FakeTelegram
from lambdagram.local.redis_server import RedisClusterServers, RedisServer

from tests.conftest import handler_client
from tests.support.webhook import WebhookClient

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tls_redis() -> Iterator[RedisServer]:
    with RedisServer(tls=True) as server:
        yield server


@pytest.fixture(scope="module")
def cluster() -> Iterator[RedisClusterServers]:
    with RedisClusterServers() as servers:
        yield servers


@pytest.fixture
def tls_client(
    tls_redis: RedisServer,
    bot_env: dict[str, str],
    telegram: FakeTelegram,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[WebhookClient]:
    yield from handler_client({**bot_env, "REDIS_URL": tls_redis.url}, telegram, monkeypatch)


@pytest.fixture
def cluster_client(
    cluster: RedisClusterServers,
    bot_env: dict[str, str],
    telegram: FakeTelegram,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[WebhookClient]:
    env = {**bot_env, "REDIS_URL": cluster.url, "REDIS_CLUSTER": "1"}
    yield from handler_client(env, telegram, monkeypatch)


def run_dialog(client: WebhookClient, chat_id: int) -> str:
    client.say("/start", chat_id=chat_id)
    client.say(f"Name {chat_id}", chat_id=chat_id)
    client.say("41", chat_id=chat_id)
    return client.say("/skip", chat_id=chat_id).texts[0]


def test_a_full_dialog_over_tls(tls_client: WebhookClient) -> None:
    summary = run_dialog(tls_client, 1001)

    assert "Name: Name 1001" in summary
    assert "Age: 41" in summary


def test_full_dialogs_on_a_cluster_whose_chats_land_on_different_nodes(
    cluster_client: WebhookClient,
) -> None:
    # chats spread over the 16384 slots, so over all three nodes
    for chat_id in (1, 2, 3, 1001, 424242, -1001234567890):
        summary = run_dialog(cluster_client, chat_id)
        assert f"Name: Name {chat_id}" in summary
        assert "Age: 41" in summary


def test_dedupe_and_the_chat_lock_work_on_a_cluster(cluster_client: WebhookClient) -> None:
    cluster_client.say("/start", chat_id=55)
    name = message_update("Ada", chat_id=55)

    first = cluster_client.post(name)
    again = cluster_client.post(name)

    assert "Nice to meet you" in first.text
    assert again.body == {"ok": True, "duplicate": True}


def test_dead_letters_work_on_a_cluster(cluster_client: WebhookClient) -> None:
    reply = cluster_client.post({"update_id": 3, "message": {"broken": True}})

    assert reply.body == {"ok": True, "dead_letter": True}
