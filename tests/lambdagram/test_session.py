"""The Bot API session: aiohttp made on the first call, with the session's own settings."""

from __future__ import annotations

import json
from collections.abc import Coroutine
from typing import Any

from aiogram import Bot
from aiogram.client.telegram import TelegramAPIServer

from lambdagram.local.fake_telegram import FakeTelegram
from lambdagram.runtime import ensure_event_loop
from lambdagram.session import BotApiSession

from tests.conftest import TOKEN


def run[T](step: Coroutine[Any, Any, T]) -> T:
    """On the tests' one loop (the one mangum uses), as the function runs its calls."""
    return ensure_event_loop().run_until_complete(step)


def test_no_http_client_is_made_until_the_first_call() -> None:
    session = BotApiSession()
    Bot(TOKEN, session=session)

    assert session._http is None
    run(session.close())  # nothing to close: fine


def test_a_call_uses_the_settings_the_session_has_at_the_time(telegram: FakeTelegram) -> None:
    session = BotApiSession(api=TelegramAPIServer.from_base("http://127.0.0.1:9"))
    bot = Bot(TOKEN, session=session)
    session.api = TelegramAPIServer.from_base(telegram.url)  # changed after it was made
    session.timeout = 7

    async def calls() -> tuple[str, str]:
        me = await bot.get_me()
        sent = await bot.send_message(chat_id=5, text="hi")
        await session.close()
        return me.username or "", sent.text or ""

    assert run(calls()) == (telegram.calls[0].result["username"], "hi")
    assert [call.method for call in telegram.calls] == ["getMe", "sendMessage"]
    assert session._http is not None
    assert session._http.timeout == 7


def test_a_download_streams_through_the_same_client(telegram: FakeTelegram) -> None:
    session = BotApiSession(api=TelegramAPIServer.from_base(telegram.url))

    async def download() -> bytes:
        url = session.api.file_url(TOKEN, "photos/none.jpg")
        chunks = [c async for c in session.stream_content(url, raise_for_status=False)]
        await session.close()
        return b"".join(chunks)

    body = json.loads(run(download()))  # the fake serves no files: its 404

    assert body["error_code"] == 404
