"""/card: slow work (a stand-in for rendering an image or asking an LLM), flagged long.

A long handler is written as any other; ``flags={"long": True}`` is all it takes. Deployed,
the webhook answers Telegram at once and the worker function runs it, with "typing" shown
in the chat meanwhile (README "Long work"); under polling the flag changes nothing.
"""

import asyncio
from html import escape

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

router = Router(name="card")
router.message.filter(F.from_user)

WORK_SECONDS = 2.0  # how long the "rendering" takes; `/card 45` to try a longer one
MOST_SECONDS = 600.0


@router.message(Command("card"), flags={"long": True})
async def card_handler(message: Message, command: CommandObject) -> None:
    """Make the user's card, slowly."""
    try:
        seconds = min(MOST_SECONDS, max(0.0, float(command.args or WORK_SECONDS)))
    except ValueError:
        seconds = WORK_SECONDS
    await asyncio.sleep(seconds)
    assert message.from_user is not None
    name = escape(message.from_user.full_name)
    await message.answer(f"🪪 <b>{name}</b>\nYour card is ready (it took {seconds:g} s).")
