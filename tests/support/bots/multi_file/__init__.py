"""A multi-file bot laid out like aiogram's ``examples/multi_file_bot``: one router per module.

``configure`` is its ``main()`` minus ``start_polling``: the only line a port adds.
"""

from aiogram import Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.enums import ParseMode

from lambdagram import Lambdagram

from tests.support.bots.multi_file.handlers import echo, start


def configure(dp: Dispatcher) -> None:
    dp.include_routers(start.router, echo.router)


app = Lambdagram(configure, default=DefaultBotProperties(parse_mode=ParseMode.HTML))
handler = app.lambda_handler
