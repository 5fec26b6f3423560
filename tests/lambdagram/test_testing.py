"""The testing kit bot developers import (`lambdagram.testing`): what it promises them."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
import redis

from lambdagram.local.fake_telegram import FakeTelegram
from lambdagram.local.redis_server import RedisServer
from lambdagram.testing import BotUnderTest

POLLING_BOT = {
    "handler.py": (
        "from lambdagram import Lambdagram\n"
        "app = Lambdagram.from_polling('kitbot/bot.py')\n"
        "handler = app.lambda_handler\n"
    ),
    "kitbot/bot.py": (
        "from aiogram import Bot, Dispatcher\n"
        "from kitcommands import start\n"  # a folder without __init__.py: a namespace package
        "async def main():\n"
        "    dp = Dispatcher()\n"
        "    dp.include_router(start.router)\n"
        "    await dp.start_polling(Bot('123456789:TEST-token-not-real'))\n"
    ),
    "kitbot/kitcommands/start.py": (
        "from aiogram import Router\n"
        "from aiogram.filters import CommandStart\n"
        "from aiogram.types import Message\n"
        "router = Router()\n"  # module-level, as polling bots write it
        "@router.message(CommandStart())\n"
        "async def start(message: Message) -> None:\n"
        "    await message.answer('hello')\n"
    ),
}


def test_restart_imports_a_polling_bots_namespace_packages_afresh(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    redis_server: RedisServer,
    redis_client: redis.Redis,
    telegram: FakeTelegram,
) -> None:
    """A cold instance each time: a module-level router attached again to a new Dispatcher
    would be "already attached" if its module were kept."""
    for name, text in POLLING_BOT.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    kit = BotUnderTest(redis_server.url, telegram, "handler:app")
    for name, value in kit.environ.items():
        monkeypatch.setenv(name, value)
    try:
        kit.restart()
        first = kit.chat().send("/start")
        kit.restart()
        second = kit.chat().send("/start")
    finally:
        kit.close()

    assert first.texts == ["hello"]
    assert second.texts == ["hello"]


def test_a_limit_counts_the_messages_sent_after_it_is_set(telegram: FakeTelegram) -> None:
    def send(chat: int) -> int:
        request = urllib.request.Request(
            f"{telegram.url}/bot123:abc/sendMessage",
            data=json.dumps({"chat_id": chat, "text": "hi"}).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as error:
            return int(error.code)

    before = [send(chat) for chat in (1, 2, 3)]
    telegram.limit(2)
    after = [send(chat) for chat in (4, 5, 6)]

    assert before == [200, 200, 200]
    assert after == [200, 200, 429]
