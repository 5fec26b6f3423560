"""Commands that work in any state: /help and /cancel, and the fallback reply."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.methods import SendMessage
from aiogram.types import Message, ReplyKeyboardRemove

HELP_TEXT = (
    "I run a short questionnaire and remember where you are, even across restarts.\n\n"
    "/start - fill the questionnaire (starts over if one is in progress)\n"
    "/skip - skip the optional question about yourself\n"
    "/cancel - stop and forget what you typed\n"
    "/help - this message"
)


async def help_handler(message: Message) -> SendMessage:
    """Explain the commands."""
    return message.answer(HELP_TEXT)


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


async def fallback_handler(message: Message) -> SendMessage:
    """Answer messages outside any dialog."""
    return message.answer("Send /start to fill the questionnaire, or /help to see what I can do.")


def create_common_router() -> Router:
    """/help and /cancel, tried before the feature routers so they work in every state."""
    router = Router(name="common")
    router.message.register(help_handler, Command("help"), StateFilter("*"))
    router.message.register(cancel_handler, Command("cancel"), StateFilter("*"))
    router.message.register(cancel_handler, F.text.casefold() == "cancel", StateFilter("*"))
    return router


def create_fallback_router() -> Router:
    """The reply to private messages nobody else handled; include it last."""
    router = Router(name="fallback")
    router.message.register(fallback_handler, StateFilter(None), F.chat.type == "private")
    return router
