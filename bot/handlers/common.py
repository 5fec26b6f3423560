"""Commands that work in any state: /help and /cancel."""

from aiogram import F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.methods import SendMessage
from aiogram.types import Message, ReplyKeyboardRemove

router = Router(name="common")
router.message.filter(F.from_user)  # /cancel needs a user's dialog; channel posts have none

HELP_TEXT = (
    "I run a short questionnaire and remember where you are, even across restarts.\n\n"
    "/start - fill the questionnaire (starts over if one is in progress)\n"
    "/skip - skip the optional question about yourself\n"
    "/cancel - stop and forget what you typed\n"
    "/card - your card (slow work: it runs on the worker)\n"
    "/remind 10 tea - a reminder in 10 minutes\n"
    "/help - this message"
)


@router.message(Command("help"), StateFilter("*"))
async def help_handler(message: Message) -> SendMessage:
    """Explain the commands."""
    return message.answer(HELP_TEXT)


@router.message(Command("cancel"), StateFilter("*"))
@router.message(F.text.casefold() == "cancel", StateFilter("*"))
async def cancel_handler(message: Message, state: FSMContext) -> SendMessage:
    """Forget the dialog in progress, if any."""
    current = await state.get_state()
    if current is None:
        return message.answer("Nothing to cancel. Send /start to begin.")
    await state.clear()
    return message.answer(
        "Cancelled. I forgot everything you typed. Send /start to begin again.",
        reply_markup=ReplyKeyboardRemove(),
    )
