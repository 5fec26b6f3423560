"""A bot run as a package (``python -m shop``): relative imports inside ``handlers``, a
config object, MemoryStorage named, ``main()`` with logging, a startup hook, data for
``start_polling`` and the update types resolved from the handlers."""

import asyncio
import logging

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.fsm.storage.memory import MemoryStorage
from config import load_config
from handlers import setup_routers

logger = logging.getLogger(__name__)


async def on_startup(bot: Bot) -> None:
    logger.info("started")


async def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    config = load_config()
    bot = Bot(token=config.token, default=DefaultBotProperties(parse_mode="HTML"))
    dp = Dispatcher(storage=MemoryStorage())
    dp.startup.register(on_startup)
    dp.include_router(setup_routers())
    await dp.start_polling(bot, config=config, allowed_updates=dp.resolve_used_update_types())


if __name__ == "__main__":
    asyncio.run(main())
