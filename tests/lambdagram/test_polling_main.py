"""A polling bot's own entry file handed over with three lines (`Lambdagram.from_polling`)."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from lambdagram.local.fake_telegram import FakeTelegram
from lambdagram.polling_main import PollingMainError, capture

from tests.conftest import handler_client

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
