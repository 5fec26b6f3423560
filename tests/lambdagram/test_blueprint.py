"""The hand-over: a bot configured as for polling runs unchanged, update after update."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis
from aiogram import BaseMiddleware, Bot, Dispatcher, F, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.dispatcher.flags import get_flag
from aiogram.dispatcher.middlewares.error import ErrorsMiddleware
from aiogram.dispatcher.middlewares.user_context import UserContextMiddleware
from aiogram.filters import Command, ExceptionTypeFilter
from aiogram.fsm.middleware import FSMContextMiddleware
from aiogram.methods import SendMessage
from aiogram.types import ErrorEvent, Message, TelegramObject

from lambdagram import BotSetupError, Lambdagram
from lambdagram.local.fake_telegram import FakeTelegram

from tests.support.webhook import WebhookClient

MakeClient = Callable[..., WebhookClient]
ROUTER = Router(name="included-twice")
ORDINARY = sorted(vars(Dispatcher()))  # the attributes Dispatcher.__init__ gives


def echo_router() -> Router:
    """A module-level style router: made once, decorated, reused by every update."""
    router = Router(name="echo")

    @router.message(F.text)
    async def echo(message: Message) -> SendMessage:
        return message.answer(f"echo: {message.text}")

    return router


def test_a_module_level_router_answers_every_update_of_a_warm_process(
    make_client: MakeClient,
) -> None:
    router = echo_router()
    client = make_client(lambda dp: dp.include_router(router))

    replies = [client.say(f"hello {n}") for n in range(5)]

    assert [r.status for r in replies] == [200] * 5
    assert [r.text for r in replies] == [f"echo: hello {n}" for n in range(5)]
    assert router.parent_router is not None  # still attached where the bot put it


def test_handlers_on_the_bots_own_dispatcher_run_in_a_fresh_dispatcher_each_update(
    make_client: MakeClient,
) -> None:
    dp = Dispatcher()
    seen: list[int] = []

    @dp.message(Command("whoami"))
    async def whoami(message: Message, dispatcher: Dispatcher) -> SendMessage:
        seen.append(id(dispatcher))
        return message.answer("you")

    client = make_client(dp)

    assert client.say("/whoami").text == client.say("/whoami").text == "you"
    assert len(set(seen)) == 2
    assert id(dp) not in seen


def test_each_updates_dispatcher_has_what_an_ordinary_one_has_and_data_of_its_own(
    make_client: MakeClient,
) -> None:
    dp = Dispatcher(counter=0)
    seen: list[Dispatcher] = []

    @dp.message(Command("count"))
    async def count(message: Message, dispatcher: Dispatcher, counter: int) -> SendMessage:
        seen.append(dispatcher)
        dispatcher["counter"] = counter + 1  # this update's workflow data only
        attributes = sorted(vars(dispatcher))
        return message.answer(f"{dispatcher['counter']} {attributes == ORDINARY}")

    client = make_client(dp)

    assert client.say("/count").text == client.say("/count").text == "1 True"
    assert dp["counter"] == 0


def test_each_updates_dispatcher_shares_the_bots_observers_and_has_its_own_update_and_fsm(
    make_client: MakeClient,
) -> None:
    dp = Dispatcher()
    checked: list[bool] = []

    @dp.message(Command("look"))
    async def look(message: Message, dispatcher: Dispatcher) -> SendMessage:
        checked.extend(
            [
                dispatcher.message is dp.message,
                dispatcher.observers["callback_query"] is dp.callback_query,
                dispatcher.errors is dp.errors,
                dispatcher.update is not dp.update,
                dispatcher.update.router is dispatcher,
                dispatcher.fsm is not dp.fsm,
                dispatcher.fsm.strategy == dp.fsm.strategy,
            ]
        )
        return message.answer("looked")

    client = make_client(dp)

    assert client.say("/look").text == "looked"
    assert checked == [True] * 7


def test_the_middlewares_an_ordinary_dispatcher_registers_are_the_ones_the_engine_gives() -> None:
    builtins: list[type] = [type(m) for m in Dispatcher().update.outer_middleware]

    assert builtins == [ErrorsMiddleware, UserContextMiddleware, FSMContextMiddleware]


def test_an_update_middleware_added_by_a_startup_hook_applies_from_the_first_update(
    make_client: MakeClient,
) -> None:
    async def tag(
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        data["tag"] = "tagged"
        return await handler(event, data)

    def configure(dp: Dispatcher) -> None:
        @dp.startup()
        async def on_startup() -> None:
            dp.update.outer_middleware(tag)

        @dp.message()
        async def answer(message: Message, tag: str = "untagged") -> SendMessage:
            return message.answer(tag)

    client = make_client(configure)

    assert client.say("one").text == client.say("two").text == "tagged"


def test_router_filters_and_middlewares_set_at_module_level_apply(
    make_client: MakeClient,
) -> None:
    router = Router()
    router.message.filter(F.chat.type == "private")

    class Counts(BaseMiddleware):
        def __init__(self) -> None:
            self.calls = 0

        async def __call__(
            self,
            handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
            event: TelegramObject,
            data: dict[str, Any],
        ) -> Any:
            self.calls += 1
            data["calls"] = self.calls
            return await handler(event, data)

    counts = Counts()
    router.message.middleware(counts)

    @router.message()
    async def answer(message: Message, calls: int) -> SendMessage:
        return message.answer(f"call {calls}")

    client = make_client(lambda dp: dp.include_router(router))

    assert client.say("a").text == "call 1"
    assert client.say("b").text == "call 2"
    assert client.say("in a group", chat_id=-100123).body == {}  # the router's filter


def test_dispatcher_middlewares_workflow_data_and_flags_reach_the_handlers(
    make_client: MakeClient,
) -> None:
    router = Router()

    @router.message(flags={"tone": "polite"})
    async def greet(message: Message, greeting: str, tone: str, prefix: str) -> SendMessage:
        return message.answer(f"{prefix}{greeting} ({tone})")

    async def outer(
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        data["greeting"] = "hello"
        return await handler(event, data)

    async def inner(
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        data["tone"] = get_flag(data, "tone", default="plain")
        return await handler(event, data)

    def configure(dp: Dispatcher) -> None:
        dp["prefix"] = "> "
        dp.update.outer_middleware(outer)
        dp.message.middleware(inner)  # on the root: inherited by every router below
        dp.include_router(router)

    client = make_client(configure)

    assert client.say("hi").text == "> hello (polite)"
    assert client.say("hi again").text == "> hello (polite)"


def test_an_errors_handler_of_the_bot_answers_instead_of_the_engine(
    make_client: MakeClient, redis_client: redis.Redis
) -> None:
    router = Router()

    @router.message()
    async def fails(message: Message) -> None:
        raise ValueError("no such thing")

    @router.errors(ExceptionTypeFilter(ValueError), F.update.message.as_("message"))
    async def explain(event: ErrorEvent, message: Message) -> SendMessage:
        return message.answer(f"sorry: {event.exception}")

    client = make_client(lambda dp: dp.include_router(router))

    reply = client.say("x")

    assert reply.status == 200
    assert reply.text == "sorry: no such thing"


def test_startup_hooks_run_once_per_process_before_the_first_update(
    make_client: MakeClient,
) -> None:
    started: list[int] = []
    router = Router()

    @router.message()
    async def answer(message: Message, commands: str) -> SendMessage:
        return message.answer(commands)

    async def on_startup(bot: Bot, dispatcher: Dispatcher) -> None:
        started.append(bot.id)
        dispatcher["commands"] = "ready"  # what polling bots do: data for every handler

    def configure(dp: Dispatcher) -> None:
        dp.startup.register(on_startup)
        dp.include_router(router)

    client = make_client(configure)

    assert client.say("1").text == "ready"
    assert client.say("2").text == "ready"
    assert started == [123456789]


def test_a_failing_startup_hook_answers_500_and_runs_again_on_the_next_update(
    make_client: MakeClient, redis_client: redis.Redis
) -> None:
    attempts: list[int] = []
    router = echo_router()

    async def flaky_startup() -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise ConnectionError("database not reachable yet")

    def configure(dp: Dispatcher) -> None:
        dp.startup.register(flaky_startup)
        dp.include_router(router)

    client = make_client(configure)

    failed = client.say("hello")
    claimed = redis_client.keys("lg:*")
    again = client.say("hello")

    assert failed.status == 500
    assert failed.body["error"] == "bot_startup_failed"
    assert claimed == []  # nothing claimed: the update comes back whole
    assert again.status == 200
    assert again.text == "echo: hello"
    assert len(attempts) == 2


@pytest.mark.parametrize(
    ("configure", "message"),
    [
        (lambda dp: dp.include_routers(ROUTER, ROUTER), "a router can be included once"),
        (lambda dp: 1 / 0, "ZeroDivisionError"),
        ("not a bot", r"configure\(dp\) function or its Dispatcher"),
    ],
    ids=["router-twice", "raises", "not-callable"],
)
def test_a_mistake_in_the_bot_setup_stops_the_cold_start_with_a_clear_message(
    configure: Any, message: str
) -> None:
    with pytest.raises(BotSetupError, match=message):
        Lambdagram(configure, environ={})


def test_an_async_configure_is_refused_with_what_to_do_instead() -> None:
    async def configure(dp: Dispatcher) -> None: ...

    with pytest.raises(BotSetupError, match="startup hook"):
        Lambdagram(configure, environ={})


def test_a_bot_without_defaults_sends_what_it_sends_under_polling(
    make_client: MakeClient, telegram: FakeTelegram
) -> None:
    router = Router()

    @router.message()
    async def both(message: Message) -> SendMessage:
        await message.answer("awaited")
        return message.answer("returned")

    plain = make_client(lambda dp: dp.include_router(router))
    reply = plain.say("x")

    assert "parse_mode" not in reply.api_calls[0].params
    assert "parse_mode" not in reply.body


def test_the_bots_default_properties_are_applied(make_client: MakeClient) -> None:
    router = echo_router()
    default = DefaultBotProperties(parse_mode="MarkdownV2")

    reply = make_client(lambda dp: dp.include_router(router), default=default).say("x")

    assert reply.body["parse_mode"] == "MarkdownV2"


def test_an_exception_escaping_the_engine_is_a_json_500_not_plain_text(
    make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lambdagram import app

    async def engine_bug(*_: Any, **__: Any) -> Any:
        raise KeyError("a bug in the engine")

    client = make_client(lambda dp: dp.include_router(echo_router()))
    monkeypatch.setattr(app, "process_update", engine_bug)

    reply = client.say("x")

    assert reply.status == 500
    assert reply.body == {
        "ok": False,
        "error": "internal_error",
        "description": "internal error (KeyError)",
    }


def test_an_event_that_is_no_http_request_is_a_json_500(make_client: MakeClient) -> None:
    client = make_client(lambda dp: dp.include_router(echo_router()))

    reply = client.invoke({"not": "an API Gateway or Function URL event"})

    assert reply.status == 500
    assert reply.body["error"] == "internal_error"


def test_missing_settings_are_a_json_500_naming_nothing_secret(
    telegram: FakeTelegram,
) -> None:
    app = Lambdagram(lambda dp: dp.include_router(echo_router()), environ={})
    client = WebhookClient(app.lambda_handler, "secret", telegram)

    reply = client.say("x")

    assert reply.status == 500
    assert reply.body["error"] == "misconfigured"


def test_the_update_kinds_come_from_the_bots_handlers() -> None:
    router = Router()

    @router.callback_query()
    async def press(*_: Any) -> None: ...

    @router.message()
    async def text(*_: Any) -> None: ...

    app = Lambdagram(lambda dp: dp.include_router(router), environ={})

    assert sorted(app.blueprint.used_update_types()) == ["callback_query", "message"]
