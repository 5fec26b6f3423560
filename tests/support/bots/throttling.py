"""Two throttling middlewares as bots write them: one with an in-memory TTLCache (the common
recipe), one keeping the user's last message time in FSM data."""

import time
from typing import Any, Awaitable, Callable

from aiogram import BaseMiddleware, Dispatcher, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import Message, TelegramObject
from cachetools import TTLCache

from lambdagram import Lambdagram

RATE = 60.0  # seconds between two messages of a user (long: the test is not about timing)


class MemoryThrottling(BaseMiddleware):
    def __init__(self) -> None:
        self.cache: TTLCache = TTLCache(maxsize=10_000, ttl=RATE)

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if isinstance(event, Message) and event.text == "/memory":
            user = event.from_user.id if event.from_user else 0
            if user in self.cache:
                return await event.answer("slow down (memory)")
            self.cache[user] = True
        return await handler(event, data)


class StateThrottling(BaseMiddleware):
    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        state: FSMContext | None = data.get("state")
        if isinstance(event, Message) and event.text == "/state" and state is not None:
            last = (await state.get_data()).get("last_state_command", 0.0)
            if time.time() - last < RATE:
                return await event.answer("slow down (state)")
            await state.update_data(last_state_command=time.time())
        return await handler(event, data)


router = Router()


@router.message(Command("memory"))
@router.message(Command("state"))
async def answer(message: Message) -> None:
    await message.answer(f"done: {message.text}")


def configure(dp: Dispatcher) -> None:
    dp.message.outer_middleware(MemoryThrottling())
    dp.message.outer_middleware(StateThrottling())
    dp.include_router(router)


app = Lambdagram(configure)
handler = app.lambda_handler
