"""A bot with timers: a reminder that reads the chat's state, a daily digest in a timezone."""

from aiogram import Bot, Dispatcher, Router
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.methods import SendMessage
from aiogram.types import Message

from lambdagram import Lambdagram
from lambdagram.timers import Jobs, Timers, TooManyTimers

router = Router(name="reminders")
jobs = Jobs(per_chat=5)


class Reminding(StatesGroup):
    waiting = State()


@router.message(Command("remind"))
async def remind(
    message: Message, command: CommandObject, timers: Timers, state: FSMContext
) -> SendMessage:
    try:
        timer = await timers.after(float(command.args or 60), "reminder", {"text": "Time's up!"})
    except TooManyTimers:
        return message.answer("You have 5 reminders waiting already: /forget one first.")
    await state.set_state(Reminding.waiting)
    await state.update_data(timer=timer)
    return message.answer(f"reminder {timer} set")


@router.message(Command("daily"))
async def daily(message: Message, timers: Timers) -> SendMessage:
    timer = await timers.cron("0 9 * * ? *", "digest", timezone="Europe/Berlin")
    return message.answer(f"digest {timer} set")


@router.message(Command("timers"))
async def listing(message: Message, timers: Timers) -> SendMessage:
    return message.answer(", ".join(await timers.list()) or "none")


@router.message(Command("forget"))
async def forget(message: Message, timers: Timers, state: FSMContext) -> SendMessage:
    timer = (await state.get_data()).get("timer", "")
    return message.answer(f"cancelled: {await timers.cancel(timer)}")


@jobs.job("reminder")
async def reminder(bot: Bot, chat_id: int, data: dict, state: FSMContext) -> None:
    await bot.send_message(chat_id, f"{data['text']} (state {await state.get_state()})")
    await state.clear()


@jobs.job()
async def digest(bot: Bot, chat_id: int, scheduled_at: str) -> None:
    await bot.send_message(chat_id, f"digest for {scheduled_at}")


def configure(dp: Dispatcher) -> None:
    dp.include_router(router)
    jobs.setup(dp)


app = Lambdagram(configure)
handler = app.lambda_handler
