"""A database bot as the guides write it: bare-name imports in its folder, the engine and the
tables made in ``main()`` with awaited calls, a session middleware, data for the handlers
passed to ``start_polling``."""

import asyncio
import os

import handlers
from aiogram import Bot, Dispatcher
from middlewares import DbSessionMiddleware
from models import Base
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine


async def main() -> None:
    engine = create_async_engine(os.environ["DATABASE_URL"], pool_size=1, max_overflow=0)
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    bot = Bot(os.environ["BOT_TOKEN"])
    dp = Dispatcher()
    dp.update.middleware(DbSessionMiddleware(async_sessionmaker(engine, expire_on_commit=False)))
    dp.include_router(handlers.router)
    await dp.start_polling(bot, owner="Ada")


if __name__ == "__main__":
    asyncio.run(main())
