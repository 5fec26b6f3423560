"""The reply to private messages that no other router took; included last."""

from aiogram import F, Router
from aiogram.filters import StateFilter
from aiogram.methods import SendMessage
from aiogram.types import Message

router = Router(name="fallback")


@router.message(StateFilter(None), F.chat.type == "private")
async def fallback_handler(message: Message) -> SendMessage:
    """Answer messages outside any dialog."""
    return message.answer("Send /start to fill the questionnaire, or /help to see what I can do.")
