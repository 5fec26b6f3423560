"""The questionnaire: the classic aiogram FSM form, name -> age -> about -> summary."""

import re
from html import escape
from typing import Any

from aiogram import F, Router
from aiogram.filters import Command, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.methods import AnswerCallbackQuery, SendMessage
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.states import Form

router = Router(name="questionnaire")
router.message.filter(F.from_user)  # a dialog needs a user: not for posts sent as a channel

NAME_MAX = 64
ABOUT_MAX = 1000
AGE_MIN, AGE_MAX = 1, 120
_AGE = re.compile(r"^-?\d{1,4}$", re.ASCII)

class AboutChoice(CallbackData, prefix="about"):
    """The buttons under the last question."""

    action: str  # "skip" or "cancel"


def about_keyboard() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text="Skip", callback_data=AboutChoice(action="skip"))
    builder.button(text="Cancel", callback_data=AboutChoice(action="cancel"))
    return builder.as_markup()


REASK = {
    Form.name.state: "Please send your name as a text message.",
    Form.age.state: "Please send your age as a number, like 27.",
    Form.about.state: "Please tell me about yourself in a text message, or send /skip.",
}


@router.message(Command("start"), StateFilter("*"))
async def start_handler(message: Message, state: FSMContext) -> SendMessage:
    """Begin (or restart) the questionnaire."""
    await state.clear()
    await state.set_state(Form.name)
    return message.answer("Hi! Let's fill a short questionnaire. What's your name?")


@router.message(Form.name, F.text)
async def name_handler(message: Message, state: FSMContext) -> SendMessage:
    """Take the name, then ask the age."""
    name = " ".join((message.text or "").split())
    if name.startswith("/"):
        return message.answer("That looks like a command. What's your name? (/cancel to stop)")
    if len(name) > NAME_MAX:
        return message.answer(f"That's longer than {NAME_MAX} characters. What's your name?")
    await state.update_data(name=name)
    await state.set_state(Form.age)
    return message.answer(f"Nice to meet you, <b>{escape(name)}</b>! How old are you?")


def parse_age(text: str) -> int | str:
    """The age as an int, or the reason it is not one."""
    text = text.strip()
    if not _AGE.match(text):
        return "Your age must be a whole number, like 27."
    age = int(text)
    if not AGE_MIN <= age <= AGE_MAX:
        return f"Your age must be between {AGE_MIN} and {AGE_MAX}."
    return age


@router.message(Form.age, F.text)
async def age_handler(message: Message, state: FSMContext) -> SendMessage:
    """Take a valid age, or say why it is not one and ask again (state unchanged)."""
    age = parse_age(message.text or "")
    if isinstance(age, str):
        return message.answer(f"{age} How old are you?")
    await state.update_data(age=age)
    await state.set_state(Form.about)
    return message.answer(
        "Tell me a little about yourself, or send /skip.", reply_markup=about_keyboard()
    )


@router.callback_query(Form.about, AboutChoice.filter())
async def about_button(
    query: CallbackQuery, callback_data: AboutChoice, state: FSMContext
) -> AnswerCallbackQuery:
    """The Skip or Cancel button under the last question."""
    if not isinstance(query.message, Message):  # the message is too old to act on
        return query.answer("This form has expired. Send /start.")
    await query.message.edit_reply_markup(reply_markup=None)  # pressed once, gone
    if callback_data.action == "cancel":
        await state.clear()
        await query.message.answer("Cancelled. I forgot everything you typed.")
        return query.answer("Cancelled")
    await (await finish(query.message, state, None))
    return query.answer("Skipped")


@router.message(Form.about, Command("skip"))
async def skip_handler(message: Message, state: FSMContext) -> SendMessage:
    """Finish without the optional answer."""
    return await finish(message, state, None)


@router.message(Form.about, F.text)
async def about_handler(message: Message, state: FSMContext) -> SendMessage:
    """Take the free text about the user and finish."""
    about = (message.text or "").strip()
    if about.startswith("/"):
        return message.answer("Send a few words about yourself, or /skip, or /cancel.")
    return await finish(message, state, about[:ABOUT_MAX])


@router.message(StateFilter(Form))
async def reask_handler(message: Message, raw_state: str | None) -> SendMessage:
    """Anything but text during the form: ask again, politely."""
    return message.answer(REASK.get(raw_state or "", "Please send a text message."))


async def finish(message: Message, state: FSMContext, about: str | None) -> SendMessage:
    """Send the summary, then forget the dialog.

    The summary goes out over the Bot API before the state is cleared, so if Telegram
    refuses it the user's answers are still there; the closing line rides in the
    webhook response.
    """
    data = await state.get_data()
    await message.answer(summary_text(data, about))
    await state.clear()
    return message.answer("Thanks! Send /start to fill it again.")


def summary_text(data: dict[str, Any], about: str | None) -> str:
    """The summary of the answers, as HTML."""
    lines = [
        "<b>Your answers</b>",
        f"Name: {escape(str(data.get('name', '?')))}",
        f"Age: {data.get('age', '?')}",
        f"About: {escape(about) if about else '<i>skipped</i>'}",
    ]
    return "\n".join(lines)
