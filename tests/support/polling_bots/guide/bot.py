"""The entry file of a polling bot as a popular guide writes it: bare-name imports, a
``bot.py`` inside the bot's folder, Bot defaults, awaited setup, ``start_polling`` data."""

import asyncio
import logging

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.enums import ParseMode
from config_reader import config
from handlers import echo, start


async def load_admins() -> list[int]:
    await asyncio.sleep(0)  # a database or an API, awaited
    return [1001]


async def main() -> None:
    logging.basicConfig(level=logging.INFO)
    bot = Bot(token=config.bot_token, default=DefaultBotProperties(parse_mode=ParseMode.HTML))
    dp = Dispatcher()
    dp.include_routers(start.router, echo.router)
    admins = await load_admins()
    await bot.delete_webhook(drop_pending_updates=True)
    await dp.start_polling(bot, admins=admins)


if __name__ == "__main__":
    asyncio.run(main())
