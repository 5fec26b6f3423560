"""The claim: a bot written for polling runs on lambdagram unchanged and answers the same.

Each bot in ``tests/support/bots/`` is written the ordinary aiogram way (single-file
Dispatcher, multi-file module-level routers, Scenes, CallbackData keyboards, filters and
middlewares with flags and a startup hook). Its dialog runs twice: through
``handler.handler`` in two OS processes, the first SIGKILLed mid-dialog, and under aiogram's
own polling loop in one long-lived process with ``MemoryStorage``. The Bot API calls of
each update must be identical.
"""

from __future__ import annotations

from typing import Any

import pytest
import redis

from lambdagram.local.events import callback_update, message_update
from lambdagram.local.fake_telegram import FakeTelegram

from tests.support.ported import as_polling, through_lambdagram

pytestmark = pytest.mark.slow

BOTS = "tests.support.bots"


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
