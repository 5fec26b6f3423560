"""Reliability through the webhook: retries, duplicates, dead letters, handler bugs."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest
import redis
from aiogram import Router
from aiogram.fsm.context import FSMContext
from aiogram.types import Message

from lambdagram.local.events import message_update
from lambdagram.local.fake_telegram import FakeTelegram

from tests.support.bots.form import Form
from tests.support.webhook import WebhookClient

STATE_KEY = "fsm:{123456789:1001}:1001:state"
DATA_KEY = "fsm:{123456789:1001}:1001:data"


def test_a_redelivered_update_has_no_second_effect(
    client: WebhookClient, redis_client: redis.Redis
) -> None:
    client.say("/start")
    name = message_update("Ada")
    first = client.post(name)
    state_after_first = redis_client.get(STATE_KEY)

    again = client.post(name)  # Telegram retries when it did not see our 200

    assert "Nice to meet you" in first.text
    assert again.status == 200
    assert again.body == {"ok": True, "duplicate": True}
    assert again.api_calls == []
    assert redis_client.get(STATE_KEY) == state_after_first == "Form:age"
    assert json.loads(redis_client.get(DATA_KEY) or "{}") == {"name": "Ada"}


def test_processed_update_ids_are_remembered_for_a_day(
    client: WebhookClient, redis_client: redis.Redis
) -> None:
    update = message_update("/help")
    client.post(update)

    key = f"lg:{{123456789:1001}}:update:{update['update_id']}"
    assert str(redis_client.get(key)).startswith("done:")  # done, by this invocation's token
    assert 23 * 3600 < redis_client.ttl(key) <= 24 * 3600


def test_an_update_aiogram_cannot_validate_is_dead_lettered_and_answered_200(
    client: WebhookClient, redis_client: redis.Redis
) -> None:
    broken = {"update_id": 77, "message": {"message_id": 1, "text": "no chat, no date"}}

    reply = client.post(broken)

    assert reply.status == 200
    assert reply.body == {"ok": True, "dead_letter": True}
    assert redis_client.keys("fsm:*") == []
    stored = [json.loads(e) for e in redis_client.lrange("lg:{123456789}:deadletter", 0, -1)]
    assert [entry["update"] for entry in stored] == [broken]
    assert "message.chat" in stored[0]["error"]
    assert 0 < redis_client.ttl("lg:{123456789}:deadletter") <= 14 * 24 * 3600


def test_the_dead_letter_list_is_capped(
    client: WebhookClient, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lambdagram import deadletter

    monkeypatch.setattr(deadletter, "MAX_ENTRIES", 3)
    for update_id in range(5):
        client.post({"update_id": update_id, "message": {"bad": True}})

    stored = [json.loads(e) for e in redis_client.lrange("lg:{123456789}:deadletter", 0, -1)]
    assert [entry["update"]["update_id"] for entry in stored] == [4, 3, 2]


def test_the_dead_letter_list_is_capped_by_bytes_and_keeps_each_update_once(
    client: WebhookClient, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lambdagram import deadletter

    monkeypatch.setattr(deadletter, "MAX_BYTES", 3 * 1024)
    big = {"bad": "x" * 1000}
    for update_id in [1, 1, 2, 3, 4, 4]:  # redeliveries of 1 and 4
        client.post({"update_id": update_id, "message": big})

    key = "lg:{123456789}:deadletter"
    stored = [json.loads(e)["update"]["update_id"] for e in redis_client.lrange(key, 0, -1)]
    assert stored == [4, 3]  # each once; the oldest dropped to stay under 3 KiB
    assert sorted(redis_client.smembers(f"{key}:ids")) == ["3", "4"]
    assert int(redis_client.get(f"{key}:bytes") or 0) == sum(
        len(e) for e in redis_client.lrange(key, 0, -1)
    )


def test_a_handler_that_raises_drops_its_fsm_changes_and_is_not_retried(
    make_client: Callable[..., WebhookClient], redis_client: redis.Redis
) -> None:
    router = Router()

    @router.message()
    async def crashes_after_writing(message: Message, state: FSMContext) -> None:
        await state.update_data(name="half-written")
        await state.set_state(Form.age)
        raise RuntimeError("bug after the writes")

    client = make_client(lambda dp: dp.include_router(router))
    redis_client.set(STATE_KEY, "Form:name")
    update = message_update("Ada")

    reply = client.post(update)

    assert reply.status == 200
    assert reply.body == {"ok": True, "handled": False}
    assert redis_client.get(STATE_KEY) == "Form:name"  # as before the update
    assert redis_client.get(DATA_KEY) is None
    assert client.post(update).body == {"ok": True, "duplicate": True}  # poison: not rerun


def test_updates_without_a_chat_are_processed_and_deduplicated(
    client: WebhookClient, redis_client: redis.Redis
) -> None:
    poll = {
        "update_id": 9001,
        "poll": {
            "id": "5",
            "question": "?",
            "options": [{"persistent_id": "0", "text": "a", "voter_count": 1}],
            "total_voter_count": 1,
            "is_closed": False,
            "is_anonymous": True,
            "type": "regular",
            "allows_multiple_answers": False,
            "allows_revoting": False,
            "members_only": False,
        },
    }

    assert client.post(poll).body == {}
    assert client.post(poll).body == {"ok": True, "duplicate": True}
    assert redis_client.keys("lg:*lock*") == []


def test_an_upload_reply_is_sent_over_the_bot_api(
    make_client: Callable[..., WebhookClient],
) -> None:
    from aiogram.methods import SendDocument
    from aiogram.types import BufferedInputFile

    router = Router()

    @router.message()
    async def sends_a_file(message: Message) -> SendDocument:
        return message.answer_document(BufferedInputFile(b"report", filename="report.txt"))

    client = make_client(lambda dp: dp.include_router(router))

    reply = client.say("/report")

    assert reply.status == 200
    assert reply.body == {}  # a multipart upload cannot ride in the JSON reply
    [call] = reply.api_calls
    assert call.method == "sendDocument"
    attached = str(call.params["document"]).removeprefix("attach://")
    assert call.params[attached] == b"report"


def test_writes_to_another_chats_state_are_applied_after_the_commit(
    make_client: Callable[..., WebhookClient], redis_client: redis.Redis
) -> None:
    from aiogram import Bot
    from aiogram.fsm.storage.base import StorageKey

    router = Router()

    @router.message()
    async def nudges_another_chat(message: Message, state: FSMContext, bot: Bot) -> None:
        other = FSMContext(state.storage, StorageKey(bot_id=bot.id, chat_id=2002, user_id=2002))
        await other.set_state(Form.name)
        await state.update_data(nudged=2002)

    client = make_client(lambda dp: dp.include_router(router))

    assert client.say("/nudge").status == 200

    assert redis_client.get("fsm:{123456789:2002}:2002:state") == "Form:name"
    assert json.loads(redis_client.get(DATA_KEY) or "{}") == {"nudged": 2002}


def test_a_bot_api_outage_during_a_handler_is_retried_not_lost(
    client: WebhookClient, redis_client: redis.Redis, telegram: FakeTelegram
) -> None:
    client.say("/start")
    client.say("Ada")
    client.say("36")
    about = message_update("I build engines")

    # Given Telegram answering 502 when the summary is sent
    telegram.fail("sendMessage", 502, "Bad Gateway")
    failed = client.post(about)

    # Then the webhook asks Telegram to deliver the update again, and nothing moved
    assert failed.status == 503
    assert failed.body["error"] == "bot_api_unavailable"
    assert redis_client.get(STATE_KEY) == "Form:about"
    assert json.loads(redis_client.get(DATA_KEY) or "{}") == {"name": "Ada", "age": 36}

    # When Telegram is back and redelivers the same update, the dialog completes
    telegram.clear()
    done = client.post(about)
    assert done.status == 200
    assert "Name: Ada" in done.texts[0]


def test_chat_waiters_sets_how_many_invocations_may_wait_for_a_chat(
    make_client: Callable[..., WebhookClient], redis_client: redis.Redis
) -> None:
    # Given CHAT_WAITERS=1, and a chat whose lock is held with one invocation waiting for it
    client = make_client(lambda dp: None, CHAT_WAITERS="1", LOCK_WAIT="1")
    redis_client.set("lg:{123456789:1001}:lock", "another-invocation", px=5000)
    waiting_until = int(time.time() * 1000) + 5000
    redis_client.zadd("lg:{123456789:1001}:waiters", {"another-waiter": waiting_until})

    # When one more update comes for that chat
    reply = client.say("hello")

    # Then it is turned away at once, not made a second waiter
    assert (reply.status, reply.body["error"]) == (503, "chat_crowded")
