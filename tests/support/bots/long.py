"""A bot with long handlers, in the ordinary router style: what the long-work tests run.

``/draw <seconds>`` is flagged long: it sleeps (a stand-in for an LLM call or a conversion),
records the drawing in the FSM data and answers over the Bot API. ``/count`` is a quick
handler that reads what the long one wrote; ``/cancel`` clears it. A callback button
``again`` is long too, with another chat action. ``/think <seconds>`` is slow and *not*
flagged (the mistake a port from polling makes); an error handler tells the user when the
engine gave an update up. A timer's job ``nudge`` reads what the drawings wrote.
"""

import asyncio

from aiogram import Bot, Dispatcher, F, Router, flags
from aiogram.filters import Command, CommandObject, ExceptionTypeFilter
from aiogram.fsm.context import FSMContext
from aiogram.methods import SendMessage
from aiogram.types import CallbackQuery, ErrorEvent, Message

from lambdagram import Lambdagram, UpdateGivenUp
from lambdagram.timers import Jobs

router = Router(name="drawing")
jobs = Jobs()


@jobs.job("nudge")
async def nudge(bot: Bot, chat_id: int, state: FSMContext) -> None:
    drawings = (await state.get_data()).get("drawings", 0)
    await bot.send_message(chat_id, f"nudge: {drawings} drawing(s)")


@router.message(Command("think"))
async def think(message: Message, command: CommandObject) -> None:
    await message.answer("thinking...")
    await asyncio.sleep(float(command.args or "0"))
    await message.answer("thought it through")


@router.errors(ExceptionTypeFilter(UpdateGivenUp))
async def given_up(event: ErrorEvent, bot: Bot) -> None:
    message = event.update.message
    if message is not None:
        await bot.send_message(message.chat.id, "Sorry, that took too long; try a shorter one.")


@router.message(Command("draw"), flags={"long": True})
async def draw(message: Message, command: CommandObject, state: FSMContext) -> None:
    seconds = float(command.args or "0")
    await asyncio.sleep(seconds)
    drawings = (await state.get_data()).get("drawings", 0) + 1
    await state.update_data(drawings=drawings)
    await message.answer(f"drawing {drawings} done after {seconds:g} s")


@router.callback_query(F.data == "again")
@flags.long
async def again(callback: CallbackQuery) -> None:
    await callback.answer()
    assert callback.message is not None
    await callback.message.answer("again, done")


@router.message(Command("steps"), flags={"long": True})
async def steps(message: Message) -> None:
    """Two steps the user sees: a message, then a dice (another method, to fail alone)."""
    await message.answer("step 1")
    await message.answer_dice()


@router.message(Command("count"))
async def count(message: Message, state: FSMContext) -> SendMessage:
    drawings = (await state.get_data()).get("drawings", 0)
    return message.answer(f"{drawings} drawing(s)")


@router.message(Command("ping"))
async def ping(message: Message) -> None:
    """A quick handler as most are written: one awaited Bot API call."""
    await message.answer("pong")


@router.message(Command("cancel"))
async def cancel(message: Message, state: FSMContext) -> SendMessage:
    await state.clear()
    return message.answer("cancelled")


def configure(dp: Dispatcher) -> None:
    dp.include_router(router)
    jobs.setup(dp)


app = Lambdagram(configure)
handler = app.lambda_handler
