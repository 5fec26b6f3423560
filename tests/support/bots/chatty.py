"""A bot that sets up logging at import, as many bot files do, and logs from its handler."""

import logging

from aiogram import F, Router
from aiogram.types import Message

from lambdagram import Lambdagram

logging.basicConfig(level=logging.INFO)  # the first lines of countless bot.py files
log = logging.getLogger(__name__)

router = Router()


@router.message(F.text)
async def echo(message: Message) -> None:
    log.info("echoing %s", message.text)
    await message.answer(message.text or "")


app = Lambdagram(lambda dp: dp.include_router(router))
handler = app.lambda_handler
