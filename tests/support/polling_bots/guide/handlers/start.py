from aiogram import Router
from aiogram.filters import CommandStart
from aiogram.types import Message

router = Router()


@router.message(CommandStart())
async def cmd_start(message: Message, admins: list[int]) -> None:
    role = "admin" if message.from_user and message.from_user.id in admins else "guest"
    await message.answer(f"Hello, <b>{role}</b>!")
