"""Managed-Redis variants: TLS (``rediss://``) and Redis Cluster (ElastiCache Serverless)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from lambdagram.local.events import message_update, photo_update
from lambdagram.local.fake_telegram import FakeTelegram
from lambdagram.local.redis_server import RedisClusterServers, RedisServer

from tests.conftest import FORM_BOT, handler_client
from tests.deploy.test_template import ROOT
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


def function_user_access() -> str:
    """The ACL the ElastiCache stack gives the function's Redis user."""
    from cfnlint.decode import decode

    template, problems = decode(str(ROOT / "infra" / "elasticache-serverless.yaml"))
    assert template is not None, problems
    access: str = template["Resources"]["FunctionUser"]["Properties"]["AccessString"]
    return access


@pytest.fixture(scope="module")
def acl_redis() -> Iterator[RedisServer]:
    """A Redis whose user ``lambdagram-test`` has exactly the stack's ACL."""
    with RedisServer() as server:
        admin = redis.Redis.from_url(server.url)
        rules = function_user_access().split()
        # the stack's rules, verbatim, as ElastiCache passes them to the engine
        admin.execute_command(  # type: ignore[no-untyped-call]
            "ACL", "SETUSER", "lambdagram-test", "reset", ">pass-0123456789ab", *rules
        )
        admin.close()
        yield server


@pytest.mark.parametrize("bot", [FORM_BOT, "tests.support.bots.album"])
def test_the_engine_needs_no_more_than_the_acl_the_stack_gives_its_user(
    bot: str,
    acl_redis: RedisServer,
    bot_env: dict[str, str],
    telegram: FakeTelegram,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = acl_redis.url.replace("redis://", "redis://lambdagram-test:pass-0123456789ab@")
    env = {**bot_env, "REDIS_URL": url}
    for name in ("AWS_LAMBDA_FUNCTION_NAME", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)  # albums close inline
    clients = handler_client({**env, "LOCK_WAIT": "0.3"}, telegram, monkeypatch, bot)
    client = next(clients)

    # Every kind of step: a dialog, a duplicate, a dead letter, a waiting chat, an album
    try:
        if bot == FORM_BOT:
            assert "Name: Name 7" in run_dialog(client, 7)
            update = message_update("/help", chat_id=7)
            assert client.post(update).status == 200
            assert client.post(update).body == {"ok": True, "duplicate": True}
            assert client.post({"update_id": 9, "message": {"x": 1}}).body["dead_letter"]
            admin = redis.Redis.from_url(acl_redis.url)
            admin.set("lg:{123456789:7}:lock", "another-invocation", px=5000)
            admin.close()
            assert client.say("hello", chat_id=7).body["error"] == "chat_busy"
        else:
            reply = client.post(photo_update(chat_id=8, media_group_id="acl", caption="a"))
            assert reply.status == 200, reply.body
            assert telegram.calls_to("sendMessage")[-1].params["text"].startswith("Album 1")
    finally:
        next(clients, None)
