"""Tasks a handler starts with ``asyncio.create_task`` finish inside their own invocation,
under their update's chat lock, their FSM writes in its commit; none runs in a later one."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
import redis
from aiogram import F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import Message

from lambdagram.local.events import LambdaContext

from tests.support.webhook import WebhookClient

DATA_KEY = "fsm:{123456789:1001}:1001:data"


def bot_with_background_work(pause: float) -> Callable[[Any], None]:
    """A bot whose handler answers at once and leaves the slow part to a task, as polling
    bots do (the task sends a message and writes the chat's data when done)."""
    router = Router()
    tasks: set[asyncio.Task[None]] = set()  # the usual keep-a-reference pattern

    async def slow_part(message: Message, state: FSMContext) -> None:
        await asyncio.sleep(pause)
        await message.answer(f"done with {message.text}")
        await state.update_data(last=message.text)

    @router.message(F.text == "boom")
    async def failing(message: Message) -> None:
        async def explode() -> None:
            raise RuntimeError("the task failed")

        tasks.add(asyncio.create_task(explode()))
        await message.answer("started")

    @router.message(F.text)
    async def start_work(message: Message, state: FSMContext) -> None:
        task = asyncio.create_task(slow_part(message, state))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        await message.answer("working on it")

    return lambda dp: dp.include_router(router)


def test_a_task_the_handler_started_finishes_before_the_answer_its_writes_committed(
    make_client: Callable[..., WebhookClient], redis_client: redis.Redis
) -> None:
    client = make_client(bot_with_background_work(pause=0.3))

    reply = client.say("report")

    assert reply.status == 200
    assert reply.texts == ["working on it", "done with report"]  # all inside this invocation
    assert json.loads(str(redis_client.get(DATA_KEY))) == {"last": "report"}


def test_a_task_still_running_at_the_deadline_is_cancelled_and_never_runs_later(
    make_client: Callable[..., WebhookClient], redis_client: redis.Redis
) -> None:
    client = make_client(bot_with_background_work(pause=60))

    # a function with 4 s left: the task is cancelled a second before the deadline
    slow = client.say("report", context=LambdaContext(timeout_ms=4_000))
    later = client.say("/help-me", context=LambdaContext(timeout_ms=1_500))

    assert slow.status == 200
    assert slow.texts == ["working on it"]
    assert "done with report" not in later.texts  # nothing of the first ran in the second
    assert redis_client.get(DATA_KEY) is None


def test_a_task_that_raised_is_logged_and_the_update_answered(
    make_client: Callable[..., WebhookClient], caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(bot_with_background_work(pause=0))

    reply = client.say("boom")

    assert reply.status == 200
    assert reply.texts == ["started"]
    assert "a background task a handler started failed" in caplog.text
