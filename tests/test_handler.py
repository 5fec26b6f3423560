"""The Lambda entry: warm invocations, cold starts and restarts in the middle of a dialog."""

from __future__ import annotations

import json
from types import ModuleType

import pytest
import redis

from lambdagram.local.events import Shape, lambda_event, message_update, response_json
from lambdagram.local.fake_telegram import FakeTelegram
from lambdagram.local.lambda_process import LambdaProcess
from lambdagram.settings import Settings
from lambdagram.storage import create_storage

from tests.conftest import SECRET, close_handler, import_handler
from tests.support.webhook import WebhookClient


@pytest.fixture
def shape() -> Shape:
    """One event shape is enough here; the shapes have tests of their own."""
    return "function_url"


def test_two_invocations_in_one_process_both_work(client: WebhookClient) -> None:
    # aiogram refuses to attach a router twice; the engine never re-attaches the bot's.
    first = client.say("/help")
    second = client.say("/help")

    assert first.status == second.status == 200
    assert first.text == second.text


def test_every_update_gets_a_dispatcher_of_its_own_over_the_same_handlers(
    bot_env: dict[str, str], lambda_handler: ModuleType
) -> None:
    settings = Settings.from_environ(bot_env)
    client = redis.asyncio.Redis.from_url(settings.redis_url)
    blueprint = lambda_handler.app.blueprint

    first, second = (blueprint.dispatcher(create_storage(client, settings)) for _ in range(2))

    assert first is not second
    assert first.fsm is not second.fsm  # each over its own update's storage
    assert first.message.handlers == second.message.handlers == blueprint.root.message.handlers
    assert first.resolve_used_update_types() == ["message"]


def test_the_pools_are_reused_across_warm_invocations(
    client: WebhookClient, lambda_handler: ModuleType
) -> None:
    client.say("/start")
    runtime = lambda_handler.app.runtime_if_made()
    client.say("Ada")

    assert lambda_handler.app.runtime_if_made() is runtime


def test_a_reimported_handler_with_fresh_pools_continues_the_dialog(
    client: WebhookClient, lambda_handler: ModuleType, telegram: FakeTelegram
) -> None:
    client.say("/start")
    client.say("Ada")

    # Given a new Lambda instance: a fresh import, new Redis pool and Bot session
    close_handler(lambda_handler)
    fresh = import_handler()
    try:
        again = WebhookClient(fresh.handler, SECRET, telegram)
        assert fresh.app is not lambda_handler.app

        # When the user goes on where they were
        again.say("36")
        summary = again.say("/skip").texts[0]
    finally:
        close_handler(fresh)

    # Then the answers from before the restart are in the summary
    assert "Name: Ada" in summary
    assert "Age: 36" in summary


def test_a_dialog_split_across_two_killed_processes_completes(
    bot_env: dict[str, str], redis_client: redis.Redis, telegram: FakeTelegram
) -> None:
    def say(process: LambdaProcess, text: str) -> dict[str, object]:
        event = lambda_event(message_update(text, chat_id=31337), secret=SECRET)
        response = process.invoke(event)
        assert response["statusCode"] == 200
        body = response_json(response)
        assert isinstance(body, dict)
        return body

    # Given a Lambda instance that takes the name and the age, then is killed
    first = LambdaProcess(bot_env)
    try:
        say(first, "/start")
        say(first, "Margaret")
        say(first, "33")
    finally:
        first.kill()
    state = redis_client.get("fsm:{123456789:31337}:31337:state")
    data = redis_client.get("fsm:{123456789:31337}:31337:data")
    assert state == "Form:about"
    assert json.loads(data or "{}") == {"name": "Margaret", "age": 33}

    # When a second, cold instance gets the next message
    second = LambdaProcess(bot_env)
    try:
        closing = say(second, "Apollo guidance software")
    finally:
        second.close()

    # Then it finishes the dialog with what the first one stored
    assert closing["method"] == "sendMessage"
    assert closing["text"] == "Thanks! Send /start to fill it again."
    summary = str(telegram.calls_to("sendMessage")[-1].params["text"])
    assert "Name: Margaret" in summary
    assert "Age: 33" in summary
    assert "About: Apollo guidance software" in summary
