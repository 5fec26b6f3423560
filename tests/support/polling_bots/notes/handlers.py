from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from models import Note
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

router = Router()


@router.message(Command("note"))
async def add(message: Message, command: CommandObject, session: AsyncSession) -> None:
    session.add(Note(user_id=message.from_user.id, text=command.args or "(empty)"))
    await session.commit()
    await message.answer("Saved.")


@router.message(Command("notes"))
async def show(message: Message, session: AsyncSession, owner: str) -> None:
    query = select(Note.text).where(Note.user_id == message.from_user.id).order_by(Note.id)
    texts = (await session.scalars(query)).all()
    await message.answer(f"{owner}'s bot: " + "; ".join(texts))
