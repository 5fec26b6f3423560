"""The claim: a bot written for polling runs on lambdagram unchanged and answers the same.

Each bot in ``tests/support/bots/`` is written the ordinary aiogram way (single-file
Dispatcher, multi-file module-level routers, Scenes, CallbackData keyboards, filters and
middlewares with flags and a startup hook). Its dialog runs twice: through
``handler.handler`` in two OS processes, the first SIGKILLed mid-dialog, and under aiogram's
own polling loop in one long-lived process with ``MemoryStorage``. The Bot API calls of
each update must be identical.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from lambdagram.local.events import callback_update, message_update
from lambdagram.local.fake_telegram import ApiCall, FakeTelegram

from tests.support.ported import (
    LambdaDriver,
    PollingDriver,
    as_polling,
    normalise,
    through_lambdagram,
)
from tests.support.postgres import PostgresServer

pytestmark = pytest.mark.slow

BOTS = "tests.support.bots"
BOTS_DIR = Path(__file__).resolve().parent / "support" / "bots"


def say(text: str | None, chat_id: int = 1001, **extra: Any) -> dict[str, Any]:
    return message_update(text, chat_id=chat_id, **extra)


def dialogs() -> list[Any]:
    """(bot module, updates, how many the first process handles before it is killed)."""
    return [
        pytest.param(
            f"{BOTS}.form",
            [say("/start"), say("Ada"), say("thirty"), say("36"), say(None), say("I build")],
            3,
            id="single-file-fsm-form",
        ),
        pytest.param(
            f"{BOTS}.multi_file",
            [
                say("/start"),
                say("/start"),
                say("hello"),
                say(None),
                say("/visits"),
                say("in a group", chat_id=-100500),
            ],
            3,
            id="multi-file-routers",
        ),
        pytest.param(
            f"{BOTS}.scenes",
            [
                say("/quiz"),
                say("4"),
                say("Back"),
                say("4"),
                say("Paris"),
                say(None),
                say("Guido"),
                say("/quiz"),
                say("Exit"),
                say("/stop"),
            ],
            4,
            id="scenes",
        ),
        pytest.param(
            f"{BOTS}.keyboards",
            [
                say("/counter"),
                callback_update("tap:add:1", message_id=1),
                callback_update("tap:add:10", message_id=1),
                callback_update("tap:add:1", message_id=1),
                callback_update("tap:done:1", message_id=1),
            ],
            2,
            id="callback-data-keyboards",
        ),
        pytest.param(
            f"{BOTS}.middlewares",
            [say("/whoami"), say("hello"), say("/whoami", chat_id=2002), say("hi", chat_id=2002)],
            2,
            id="filters-middlewares-flags-startup",
        ),
    ]


@pytest.mark.parametrize(("module", "updates", "kill_after"), dialogs())
def test_a_polling_bot_answers_on_lambdagram_exactly_as_under_polling(
    module: str,
    updates: list[dict[str, Any]],
    kill_after: int,
    bot_env: dict[str, str],
    telegram: FakeTelegram,
    redis_client: redis.Redis,
) -> None:
    polled = as_polling(module, updates, telegram)

    on_lambda = through_lambdagram(module, updates, bot_env, telegram, kill_after=kill_after)

    assert sum(map(len, polled)) >= len(updates) - 1  # the bot did answer
    for index, (expected, actual) in enumerate(zip(polled, on_lambda, strict=True)):
        assert actual == expected, f"update {index} ({updates[index]})"


def press(calls: list[ApiCall], text: str) -> dict[str, Any]:
    """The user pressing the newest inline button labelled ``text`` the bot has shown."""
    for call in reversed(calls):
        markup = call.params.get("reply_markup")
        markup = json.loads(markup) if isinstance(markup, str) else markup
        for row in (markup or {}).get("inline_keyboard", []):
            for button in row:
                if button["text"] == text:
                    message_id = call.params.get("message_id") or call.result["message_id"]
                    return callback_update(button["callback_data"], message_id=int(message_id))
    pytest.fail(f"no button {text!r} was shown")


def masked(calls: list[ApiCall]) -> list[Any]:
    """Normalised calls without the ids that differ between two runs of the script.

    aiogram-dialog puts random intent ids in its buttons' data, and each run presses them
    with callback queries of its own.
    """
    text = json.dumps(normalise(calls))
    without_ids: list[Any] = json.loads(
        re.sub(r'"(callback_data|callback_query_id)": "[^"]*"', r'"\1": "*"', text)
    )
    return without_ids


def both_ways(
    module: str, script: list[Any], env: dict[str, str], telegram: FakeTelegram
) -> tuple[list[Any], list[Any]]:
    """``script`` (updates, button labels to press, "restart") under polling, then under
    lambdagram (a cold instance at each "restart"): each step's masked calls, both ways."""

    def run(driver: Any) -> list[Any]:
        seen: list[ApiCall] = []
        steps: list[Any] = []
        for step in script:
            if step == "restart":
                if isinstance(driver, LambdaDriver):
                    driver.restart()
                continue
            made = driver.send(press(seen, step) if isinstance(step, str) else step)
            seen.extend(made)
            steps.append(masked(made))
        driver.close()
        return steps

    telegram.clear()
    polled = run(PollingDriver(module, telegram))
    telegram.clear()
    return polled, run(LambdaDriver(module, env, telegram))


def test_an_aiogram_dialog_bot_answers_on_lambdagram_exactly_as_under_polling(
    bot_env: dict[str, str], telegram: FakeTelegram, redis_client: redis.Redis
) -> None:
    pytest.importorskip("aiogram_dialog")
    module = f"{BOTS}.dialog"
    script = [say("/start"), say("Ada"), "M", "Back", "L", "restart", "Confirm", say("/start")]

    polled, on_lambda = both_ways(module, script, bot_env, telegram)

    assert any("Ordered a L for Ada." in json.dumps(step) for step in polled)
    for index, (expected, actual) in enumerate(zip(polled, on_lambda, strict=True)):
        assert actual == expected, f"step {index}"


def test_aiogram_dialogs_background_manager_goes_through_redis_and_the_updates_commit(
    bot_env: dict[str, str], telegram: FakeTelegram, redis_client: redis.Redis
) -> None:
    """``dialog_manager.bg()`` from a task a button started: the dialog moves on, and a cold
    instance finds it moved on (its state was committed to Redis with the update's)."""
    pytest.importorskip("aiogram_dialog")
    module = f"{BOTS}.dialog_bg"
    script = [say("/start"), "Start", "settle", "restart", say("hello")]

    def run(driver: Any) -> list[Any]:
        seen: list[ApiCall] = []
        for step in script:
            if step == "settle":  # polling: the job's task runs on after the update
                if isinstance(driver, PollingDriver):
                    before = len(telegram.calls)
                    driver.loop.run_until_complete(asyncio.sleep(0.5))
                    seen.extend(telegram.calls[before:])
                continue
            if step == "restart":
                if isinstance(driver, LambdaDriver):
                    driver.restart()
                continue
            seen.extend(driver.send(press(seen, step) if isinstance(step, str) else step))
        driver.close()
        return masked(seen)

    telegram.clear()
    polled = run(PollingDriver(module, telegram))
    telegram.clear()
    on_lambda = run(LambdaDriver(module, bot_env, telegram))

    assert "The job is done." in json.dumps(polled)
    assert "The job finished already." in json.dumps(polled)
    assert on_lambda == polled


def test_several_aiogram_dialogs_and_a_stack_reset_answer_as_under_polling(
    bot_env: dict[str, str], telegram: FakeTelegram, redis_client: redis.Redis
) -> None:
    """A dialog started on top of another, its result handed back, /start resetting the stack
    from inside the second one, across a cold start: call for call as under polling."""
    pytest.importorskip("aiogram_dialog")
    module = f"{BOTS}.dialogs"
    script = [say("/start"), "Settings", "Louder", "restart", "Louder", "Done", "Settings",
              say("/start"), "Settings", "Cancel"]  # fmt: skip

    polled, on_lambda = both_ways(module, script, bot_env, telegram)

    shown = json.dumps(polled)
    assert "Settings: volume 2." in shown
    assert "Menu. Volume 2." in shown  # the result came back to the menu
    assert "Menu. Volume 0." in shown  # /start reset the stack
    for index, (expected, actual) in enumerate(zip(polled, on_lambda, strict=True)):
        assert actual == expected, f"step {index}"


def test_a_throttling_cache_holds_per_instance_and_one_in_fsm_data_across_instances(
    bot_env: dict[str, str], telegram: FakeTelegram, redis_client: redis.Redis
) -> None:
    """The common TTLCache throttle works as under polling within one instance and forgets at
    a cold start (each instance has its own cache); kept in FSM data, it holds across them."""
    module = f"{BOTS}.throttling"

    def texts(made: list[ApiCall]) -> list[str]:
        return [str(c.params.get("text")) for c in made if c.method == "sendMessage"]

    telegram.clear()
    polling = PollingDriver(module, telegram)
    polled = [
        texts(polling.send(say(text))) for text in ("/memory", "/memory", "/state", "/state")
    ]
    polling.close()
    telegram.clear()
    lam = LambdaDriver(module, bot_env, telegram)
    warm = [texts(lam.send(say(text))) for text in ("/memory", "/memory", "/state", "/state")]
    lam.restart()
    cold = [texts(lam.send(say(text))) for text in ("/memory", "/state")]
    lam.close()

    assert polled == [["done: /memory"], ["slow down (memory)"], ["done: /state"],
                      ["slow down (state)"]]  # fmt: skip
    assert warm == polled  # one instance: as under polling
    assert cold == [["done: /memory"], ["slow down (state)"]]  # the cache forgot; Redis did not


def test_a_gettext_translated_bot_answers_each_user_in_their_language_as_under_polling(
    bot_env: dict[str, str], telegram: FakeTelegram, redis_client: redis.Redis
) -> None:
    """aiogram's I18n over compiled catalogs beside the bot (the zip carries bot/** as it is):
    a German-speaking user and an English-speaking one, across a cold start."""
    pytest.importorskip("babel")
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    catalog = BOTS_DIR / "i18n_bot" / "locales" / "de" / "LC_MESSAGES"
    with (catalog / "messages.po").open("rb") as po, (catalog / "messages.mo").open("wb") as mo:
        write_mo(mo, read_po(po))  # what `pybabel compile` does where the bot is built
    german = {"from": {"id": 1001, "is_bot": False, "first_name": "Ada", "language_code": "de"}}
    english = {"from": {"id": 2002, "is_bot": False, "first_name": "Alan", "language_code": "en"}}
    updates = [
        say("/start", extra=german),
        say("/start", chat_id=2002, extra=english),
        say("Guten Tag", extra=german),
        say("Good day", chat_id=2002, extra=english),
    ]

    polled = as_polling(f"{BOTS}.i18n_bot", updates, telegram)
    on_lambda = through_lambdagram(f"{BOTS}.i18n_bot", updates, bot_env, telegram, kill_after=2)

    assert "Hallo, Ada!" in json.dumps(polled)
    assert "You said: Good day" in json.dumps(polled)
    assert on_lambda == polled


def test_a_sqlalchemy_bot_keeps_its_rows_in_postgres_and_answers_as_under_polling(
    bot_env: dict[str, str],
    telegram: FakeTelegram,
    redis_client: redis.Redis,
    postgres: PostgresServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SQLAlchemy 2's async session middleware against a real PostgreSQL: two users' rows,
    the same answers as under polling across a SIGKILLed instance, and one connection per
    instance (``pool_size=1``) that a warm instance reuses from update to update."""
    pytest.importorskip("asyncpg")
    sqlalchemy = pytest.importorskip("sqlalchemy")
    module = f"{BOTS}.notes_db"
    alan = {"from": {"id": 2002, "is_bot": False, "first_name": "Alan"}}
    updates = [
        say("/start"),
        say("/note buy milk"),
        say("/start", chat_id=2002, extra=alan),
        say("/note call Alice", chat_id=2002, extra=alan),
        say("/note read Knuth"),
        say("/notes"),
        say("/start"),
        say("/users", chat_id=2002, extra=alan),
        say("/note"),
    ]
    fresh = "DROP TABLE IF EXISTS notes, users"
    clients = (
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE backend_type = 'client backend' AND application_name <> 'psql'"
    )

    postgres.sql(fresh)
    monkeypatch.setenv("DATABASE_URL", postgres.url)
    telegram.clear()
    polling = PollingDriver(module, telegram)
    polled = [normalise(polling.send(update)) for update in updates]
    polling.loop.run_until_complete(polling.dispatcher["engine"].dispose())
    polling.close()

    postgres.sql(fresh)
    telegram.clear()
    lam = LambdaDriver(module, {**bot_env, "DATABASE_URL": postgres.url}, telegram)
    try:
        on_lambda = [normalise(lam.send(update)) for update in updates[:4]]
        warm_connections = postgres.sql(clients)
        lam.restart()  # a cold instance: a new engine, tables already there
        on_lambda += [normalise(lam.send(update)) for update in updates[4:]]
        for _ in range(100):  # the killed instance's backend ends once it reads the EOF
            if postgres.sql(clients) == "1":
                break
            time.sleep(0.05)
        connections_after_restart = postgres.sql(clients)
    finally:
        lam.close()

    assert sqlalchemy.__version__.startswith("2.")
    assert "1. buy milk\\n2. read Knuth" in json.dumps(polled)
    assert "Welcome back, Alice." in json.dumps(polled)
    assert "2 users so far." in json.dumps(polled)
    assert on_lambda == polled
    assert warm_connections == "1"  # four updates, one pooled connection
    assert connections_after_restart == "1"
    assert postgres.sql("SELECT count(*) FROM notes") == "3"
