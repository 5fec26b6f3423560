"""A bot whose admin sends announcements: what the broadcast tests run.

``/announce <first>-<last> <text>`` sends ``text`` to the chats ``first`` to ``last`` (a
stand-in for the bot's own subscriber list); replying ``/forward <first>-<last>`` to a
message copies it to them. ``/progress <id>`` and ``/stop <id>`` ask after or cancel one.
Only the admins may (user 1001, and 777: the local chat's user). A digest job broadcasts too.
"""

from typing import Any

from aiogram import Bot, Dispatcher, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from lambdagram import Lambdagram
from lambdagram.broadcasts import Broadcasts, setup_broadcasts
from lambdagram.timers import Jobs

ADMINS = {1001, 777}
router = Router(name="announcements")
router.message.filter(F.from_user.id.in_(ADMINS))
jobs = Jobs()


def chats(span: str) -> range:
    first, _, last = span.partition("-")
    return range(int(first), int(last or first) + 1)


@router.message(Command("announce"))
async def announce(message: Message, command: CommandObject, broadcasts: Broadcasts) -> None:
    span, _, text = (command.args or "").partition(" ")
    started = await broadcasts.start(chats(span), text=text)
    await message.answer(f"Broadcast {started} started.")


@router.message(Command("forward"), F.reply_to_message)
async def forward(message: Message, command: CommandObject, broadcasts: Broadcasts) -> None:
    started = await broadcasts.start(chats(command.args or ""), copy_of=message.reply_to_message)
    await message.answer(f"Broadcast {started} started.")


@router.message(Command("progress"))
async def progress(message: Message, command: CommandObject, broadcasts: Broadcasts) -> None:
    await message.answer((await broadcasts.status((command.args or "").strip())).line())


@router.message(Command("stop"))
async def stop(message: Message, command: CommandObject, broadcasts: Broadcasts) -> None:
    await message.answer((await broadcasts.cancel((command.args or "").strip())).line())


@jobs.job("digest")
async def digest(bot: Bot, chat_id: int, data: dict[str, Any], broadcasts: Broadcasts) -> None:
    started = await broadcasts.start(chats(data["to"]), text="Today's digest")
    await bot.send_message(chat_id, f"Digest {started} started.")


def configure(dp: Dispatcher) -> None:
    dp.include_router(router)
    jobs.setup(dp)
    setup_broadcasts(dp)


app = Lambdagram(configure)
handler = app.lambda_handler
