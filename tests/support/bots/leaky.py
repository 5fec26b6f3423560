"""A bot whose handler puts the token and the webhook secret into an exception's text."""

import os

from aiogram import Bot, F, Router
from aiogram.types import Message

from lambdagram import Lambdagram

router = Router()


@router.message(F.text == "leak")
async def leaks(message: Message, bot: Bot) -> None:
    raise RuntimeError(f"cannot use {bot.token} with {os.environ['WEBHOOK_SECRET']}")


@router.message(F.text)
async def talks(message: Message) -> None:
    await message.answer("hi")


app = Lambdagram(lambda dp: dp.include_router(router))
handler = app.lambda_handler
