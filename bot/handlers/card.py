"""/card: slow work (a stand-in for rendering an image or asking an LLM), flagged long.

A long handler is written as any other; ``flags={"long": True}`` is all it takes. Deployed,
the webhook answers Telegram at once and the worker function runs it, with "typing" shown
in the chat meanwhile (README "Long work"); under polling the flag changes nothing.
"""

import asyncio
from html import escape

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import Message

router = Router(name="card")
router.message.filter(F.from_user)

WORK_SECONDS = 2.0  # how long the "rendering" takes


@router.message(Command("card"), flags={"long": True})
async def card_handler(message: Message) -> None:
    """Make the user's card, slowly."""
    await asyncio.sleep(WORK_SECONDS)
    assert message.from_user is not None
    name = escape(message.from_user.full_name)
    await message.answer(f"🪪 <b>{name}</b>\nYour card is ready (it took {WORK_SECONDS:g} s).")
