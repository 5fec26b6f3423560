"""A polling bot's own entry file handed over with three lines (`Lambdagram.from_polling`)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import redis

from lambdagram.local.events import message_update
from lambdagram.local.fake_telegram import FakeTelegram
from lambdagram.polling_main import PollingMainError, capture

from tests.conftest import handler_client
from tests.support.ported import as_polling_apart, through_lambdagram

BOTS = Path(__file__).resolve().parents[1] / "support" / "polling_bots"


def test_its_main_runs_up_to_start_polling_with_its_imports_defaults_and_data(
    bot_env: dict[str, str],
    telegram: FakeTelegram,
    monkeypatch: pytest.MonkeyPatch,
    redis_client: redis.Redis,
) -> None:
    for client in handler_client(
        bot_env, telegram, monkeypatch, "tests.support.polling_bots.guide_handler"
    ):
        admin = client.say("/start", chat_id=1001)
        guest = client.say("/start", chat_id=2002)
        echoed = client.say("plain text")

    assert admin.texts == ["Hello, <b>admin</b>!"]  # start_polling(bot, admins=...) data
    assert guest.texts == ["Hello, <b>guest</b>!"]
    [call] = admin.api_calls
    assert call.params["parse_mode"] == "HTML"  # Bot(default=...) carried over
    assert echoed.texts == ["plain text"]
    assert telegram.calls_to("deleteWebhook") == []  # main()'s delete_webhook never sent


def test_a_main_that_calls_the_bot_api_before_polling_names_the_fix(tmp_path: Path) -> None:
    entry = tmp_path / "bot.py"
    entry.write_text(
        "from aiogram import Bot, Dispatcher\n"
        "async def main():\n"
        "    bot = Bot('123:abc')\n"
        "    me = await bot.get_me()\n"
        "    await Dispatcher().start_polling(bot)\n"
    )

    with pytest.raises(PollingMainError, match=r"getMe.*startup hook"):
        capture(entry)


def test_a_main_that_never_polls_or_a_missing_file_says_so(tmp_path: Path) -> None:
    entry = tmp_path / "bot.py"
    entry.write_text("def main():\n    return None\n")

    with pytest.raises(PollingMainError, match=r"without calling dp\.start_polling"):
        capture(entry)
    with pytest.raises(PollingMainError, match="does not exist"):
        capture(tmp_path / "nope.py")
    with pytest.raises(PollingMainError, match="has no start"):
        capture(entry, main="start")


def ordinary_polling_bots() -> list[Any]:
    """(bot, updates, what its answers hold): bots with a main() of their own, each written in
    one of the common styles, handed over by a three-line handler."""
    alan = {"from": {"id": 2002, "is_bot": False, "first_name": "Alan"}}
    return [
        pytest.param(
            "echo",
            [message_update("/start"), message_update("hello"), message_update("again")],
            ["Hello, <b>Alice</b>!", "hello"],
            id="single-file-module-level-dp",
        ),
        pytest.param(
            "shop",
            [
                message_update("/start"),
                message_update("Catalogue"),
                message_update("1"),
                message_update("2"),
                message_update("Cart"),
                message_update("/start", extra=alan, chat_id=2002),
            ],
            [
                "Welcome to the shop (admin)!",
                "Tea added (1 in the cart).",
                "Cart: Tea, Coffee",
                "Welcome to the shop!",
            ],
            id="package-with-config-startup-hook-and-polling-data",
        ),
        pytest.param(
            "notes",
            [message_update("/note tea"), message_update("/note cake"), message_update("/notes")],
            ["Saved.", "Ada's bot: tea; cake"],
            id="database-made-in-main-with-awaited-setup",
        ),
    ]


@pytest.mark.slow
@pytest.mark.parametrize(("bot", "updates", "answers"), ordinary_polling_bots())
def test_an_ordinary_polling_bot_hands_over_in_three_lines_and_answers_as_under_polling(
    bot: str,
    updates: list[dict[str, Any]],
    answers: list[str],
    bot_env: dict[str, str],
    telegram: FakeTelegram,
    redis_client: redis.Redis,
    request: pytest.FixtureRequest,
) -> None:
    env = {**bot_env, "LAMBDAGRAM_APP": f"tests.support.polling_bots.{bot}_handler:app"}
    if bot == "notes":
        postgres = request.getfixturevalue("postgres")
        postgres.sql("DROP TABLE IF EXISTS polling_notes")
        env["DATABASE_URL"] = postgres.url
    root = BOTS / f"{bot}_handler.py"
    glue = [line for line in root.read_text().splitlines() if "ambda" in line]

    polled = as_polling_apart(f"tests.support.polling_bots.{bot}_handler", updates,
                              {**os.environ, **env})  # fmt: skip
    if bot == "notes":
        postgres.sql("DROP TABLE IF EXISTS polling_notes")
    on_lambda = through_lambdagram(
        f"tests.support.polling_bots.{bot}_handler", updates, env, telegram, kill_after=2
    )

    assert len(glue) == 3, glue  # the import, app = Lambdagram.from_polling(...), handler
    for answer in answers:
        assert answer in json.dumps(polled), answer
    assert on_lambda == polled


def test_a_refusal_main_swallows_still_stops_the_cold_start(tmp_path: Path) -> None:
    """A main() that wraps its startup message in try/except must not lose it silently."""
    entry = tmp_path / "bot.py"
    entry.write_text(
        "from aiogram import Bot, Dispatcher\n"
        "async def main():\n"
        "    bot = Bot('123:abc')\n"
        "    try:\n"
        "        await bot.send_message(1, 'I am up')\n"
        "    except Exception:\n"
        "        pass\n"
        "    await Dispatcher().start_polling(bot)\n"
    )

    with pytest.raises(PollingMainError, match=r"sendMessage.*startup hook"):
        capture(entry)


def test_what_main_starts_besides_polling_is_stopped_with_one_warning_naming_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A reminder loop started with create_task, a scheduler's timer: on Lambda they would run
    only while some update is handled, with main()'s own Bot. Stopped, and said so."""
    entry = tmp_path / "bot.py"
    entry.write_text(
        "import asyncio\n"
        "from aiogram import Bot, Dispatcher\n"
        "started = {}\n"
        "async def reminder_loop():\n"
        "    while True:\n"
        "        await asyncio.sleep(0.01)\n"
        "def tick():\n"
        "    pass\n"
        "async def main():\n"
        "    started['task'] = asyncio.create_task(reminder_loop())\n"
        "    started['timer'] = asyncio.get_running_loop().call_later(60, tick)\n"
        "    await Dispatcher().start_polling(Bot('123:abc'))\n"
    )

    captured = capture(entry)

    assert captured.dispatcher is not None
    started = sys.modules["lambdagram_polling_main_bot"].started
    assert started["task"].cancelled()
    assert started["timer"].cancelled()
    [warning] = [r for r in caplog.records if "main() started" in r.getMessage()]
    assert warning.levelname == "WARNING"
    assert "reminder_loop" in warning.getMessage()
    assert "tick" in warning.getMessage()
    assert '"Timers"' in warning.getMessage()
