"""A bot on SQLAlchemy 2's async ORM as the guides write it: declarative models, an engine
and a session maker made when the Dispatcher is set up, a middleware that opens one
``AsyncSession`` per update and hands it to the handlers as ``session``, the tables made in
a startup hook. The database URL comes from ``DATABASE_URL``."""

import os
from typing import Any, Awaitable, Callable

from aiogram import BaseMiddleware, Dispatcher, Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import Message, TelegramObject
from sqlalchemy import BigInteger, ForeignKey, String, func, select
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from lambdagram import Lambdagram


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))


class Note(Base):
    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    text: Mapped[str] = mapped_column(String(256))


class DbSessionMiddleware(BaseMiddleware):
    def __init__(self, session_pool: async_sessionmaker[AsyncSession]) -> None:
        self.session_pool = session_pool

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        async with self.session_pool() as session:
            data["session"] = session
            return await handler(event, data)


router = Router()


@router.message(CommandStart())
async def start(message: Message, session: AsyncSession) -> None:
    user = message.from_user
    assert user is not None
    known = await session.get(User, user.id)
    if known is None:
        session.add(User(id=user.id, name=user.first_name))
        await session.commit()
        await message.answer(
            f"Welcome, {user.first_name}! /note <text> saves a note, /notes lists them."
        )
    else:
        await message.answer(f"Welcome back, {known.name}.")


@router.message(Command("note"))
async def note(message: Message, command: CommandObject, session: AsyncSession) -> None:
    user = message.from_user
    assert user is not None
    if not command.args:
        await message.answer("Usage: /note <text>")
        return
    session.add(Note(user_id=user.id, text=command.args))
    await session.commit()
    count = await session.scalar(
        select(func.count()).select_from(Note).where(Note.user_id == user.id)
    )
    await message.answer(f"Saved. You have {count} notes.")


@router.message(Command("notes"))
async def notes(message: Message, session: AsyncSession) -> None:
    user = message.from_user
    assert user is not None
    texts = (
        await session.scalars(select(Note.text).where(Note.user_id == user.id).order_by(Note.id))
    ).all()
    lines = [f"{number}. {text}" for number, text in enumerate(texts, 1)]
    await message.answer("\n".join(lines) or "No notes yet.")


@router.message(Command("users"))
async def users(message: Message, session: AsyncSession) -> None:
    count = await session.scalar(select(func.count()).select_from(User))
    await message.answer(f"{count} users so far.")


async def on_startup(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)


def configure(dp: Dispatcher) -> None:
    # One connection per process is enough for one update at a time; pre-ping finds the one a
    # frozen instance's server side closed meanwhile.
    engine = create_async_engine(
        os.environ["DATABASE_URL"], pool_size=1, max_overflow=0, pool_pre_ping=True
    )
    dp["engine"] = engine
    dp.startup.register(on_startup)
    dp.update.middleware(DbSessionMiddleware(async_sessionmaker(engine, expire_on_commit=False)))
    dp.include_router(router)


app = Lambdagram(configure)
handler = app.lambda_handler
