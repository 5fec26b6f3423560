"""/remind: a reminder in a few minutes, kept by EventBridge Scheduler (README "Timers").

A polling bot would keep it in its process (APScheduler, ``asyncio.sleep``); here ``timers``
is injected like any dependency and the job is registered like a handler. Deployed, the
reminder fires once even if Scheduler delivers it twice; ``make chat`` fires it on time from
a stand-in (``/remind 0.05`` and ``/wait 5``).
"""

from datetime import timedelta
from html import escape
from typing import Any

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.methods import SendMessage
from aiogram.types import Message

from lambdagram.timers import Jobs, Timers, TooManyTimers

router = Router(name="reminders")
router.message.filter(F.from_user)
jobs = Jobs(per_chat=20)  # one user cannot fill the account's Scheduler quota

MOST_MINUTES = 7 * 24 * 60


@router.message(Command("remind"))
async def remind_handler(message: Message, command: CommandObject, timers: Timers) -> SendMessage:
    """``/remind <minutes> [what]``: set a reminder."""
    minutes_text, _, what = (command.args or "").strip().partition(" ")
    try:
        minutes = float(minutes_text)
    except ValueError:
        minutes = -1.0
    if not 0 < minutes <= MOST_MINUTES:
        return message.answer("Tell me when: /remind 10 tea (minutes, up to a week).")
    try:
        await timers.after(timedelta(minutes=minutes), "reminder", {"text": what or "Time's up!"})
    except TooManyTimers:
        return message.answer("You have 20 reminders waiting already; let some go off first.")
    return message.answer(f"⏰ I'll remind you in {minutes:g} min.")


@jobs.job("reminder")
async def reminder_job(bot: Bot, chat_id: int, data: dict[str, Any]) -> None:
    """The reminder, when it is due."""
    await bot.send_message(chat_id, f"⏰ {escape(str(data['text']))}")
