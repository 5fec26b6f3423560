"""The engine's test bot: a sign-up form in the single-file style of a polling bot.

Handlers sit on a module-level ``dp = Dispatcher()`` (as in aiogram's
``examples/finite_state_machine.py``); lambdagram copies them into a fresh Dispatcher per
update. Replies are returned (reply in webhook) except the summary, which is awaited (a
Bot API call), so the tests see both paths.
"""

from html import escape

from aiogram import Dispatcher, F
from aiogram.client.default import DefaultBotProperties
from aiogram.filters import Command, CommandStart, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.methods import SendMessage
from aiogram.types import Message

from lambdagram import Lambdagram

dp = Dispatcher()


class Form(StatesGroup):
    name = State()
    age = State()
    about = State()


@dp.message(Command("help"), StateFilter("*"))
async def show_help(message: Message) -> SendMessage:
    return message.answer("/start fills the form, /skip skips a question, /cancel stops.")


@dp.message(CommandStart(), StateFilter("*"))
async def begin(message: Message, state: FSMContext) -> SendMessage:
    await state.clear()
    await state.set_state(Form.name)
    return message.answer("Hi! Let's fill a short questionnaire. What's your name?")


@dp.message(Form.name, F.text)
async def take_name(message: Message, state: FSMContext) -> SendMessage:
    name = " ".join((message.text or "").split())
    await state.update_data(name=name)
    await state.set_state(Form.age)
    return message.answer(f"Nice to meet you, <b>{escape(name)}</b>! How old are you?")


@dp.message(Form.age, F.text.regexp(r"^\s*\d{1,3}\s*$"))
async def take_age(message: Message, state: FSMContext) -> SendMessage:
    await state.update_data(age=int(message.text or "0"))
    await state.set_state(Form.about)
    return message.answer("Tell me a little about yourself, or send /skip.")


@dp.message(Form.age)
async def age_again(message: Message) -> SendMessage:
    return message.answer("Your age must be a whole number, like 27. How old are you?")


@dp.message(Form.about, Command("skip"))
@dp.message(Form.about, F.text)
async def finish(message: Message, state: FSMContext) -> SendMessage:
    about = None if (message.text or "").startswith("/skip") else message.text
    data = await state.get_data()
    await message.answer(
        f"<b>Your answers</b>\nName: {escape(str(data.get('name')))}\n"
        f"Age: {data.get('age')}\nAbout: {escape(about) if about else '<i>skipped</i>'}"
    )
    await state.clear()
    return message.answer("Thanks! Send /start to fill it again.")


@dp.message(StateFilter(Form))
async def not_text(message: Message) -> SendMessage:
    return message.answer("Please send a text message.")


@dp.message(F.chat.type == "private")
async def outside(message: Message) -> SendMessage:
    return message.answer("Send /start to fill the form.")


app = Lambdagram(dp, default=DefaultBotProperties(parse_mode="HTML"))
handler = app.lambda_handler
