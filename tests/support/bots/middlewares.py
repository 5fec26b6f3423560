"""Filters that inject data, outer and inner middlewares, flags and a startup hook."""

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Bot, Dispatcher, F, Router
from aiogram.dispatcher.flags import get_flag
from aiogram.filters import Command, Filter
from aiogram.types import Message, TelegramObject, Update

from lambdagram import Lambdagram

router = Router()


class Role(Filter):
    """Lets a message through with ``role`` injected, as guides on aiogram filters show."""

    def __init__(self, *admins: int) -> None:
        self.admins = admins

    async def __call__(self, message: Message) -> bool | dict[str, Any]:
        return {"role": "admin" if message.from_user.id in self.admins else "user"}


class Language(BaseMiddleware):
    """An inner middleware with settings of its own, reading a handler's flag."""

    def __init__(self, default: str) -> None:
        self.default = default

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        data["lang"] = getattr(event.from_user, "language_code", None) or self.default
        data["style"] = get_flag(data, "style", default="plain")
        return await handler(event, data)


async def update_counter(
    handler: Callable[[Update, dict[str, Any]], Awaitable[Any]],
    event: Update,
    data: dict[str, Any],
) -> Any:
    data["update_kind"] = event.event_type
    return await handler(event, data)


@router.message(Command("whoami"), Role(1001), flags={"style": "bold"})
async def whoami(message: Message, role: str, lang: str, style: str, greeting: str) -> None:
    await message.answer(f"{greeting} You are {role}, lang={lang}, style={style}.")


@router.message(F.text, Role(1001))
async def anything(message: Message, role: str, update_kind: str, style: str) -> None:
    await message.reply(f"{role} sent a {update_kind} ({style})")


async def on_startup(bot: Bot, dispatcher: Dispatcher) -> None:
    me = await bot.me()
    dispatcher["greeting"] = f"Hi from {me.first_name}!"


def configure(dp: Dispatcher) -> None:
    dp.update.outer_middleware(update_counter)
    router.message.middleware(Language(default="en"))
    dp.startup.register(on_startup)
    dp.include_router(router)


app = Lambdagram(configure)
handler = app.lambda_handler
