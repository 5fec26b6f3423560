"""The reference: aiogram's own long-running webhook server on the same bot.

aiohttp + ``SimpleRequestHandler(handle_in_background=False)`` + ``RedisStorage``, one
Dispatcher for the life of the process, as aiogram's examples deploy it on a VPS. A
middleware times each request inside the server; ``GET /stats`` returns the timings.

    python -m bench.reference_server PORT   (environment as for the function)
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Awaitable, Callable

from aiogram import Dispatcher
from aiogram.fsm.storage.redis import RedisStorage
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web

from lambdagram.runtime import create_bot
from lambdagram.settings import Settings
from lambdagram.storage import ChatSlotKeyBuilder, create_redis

from bot import DEFAULTS, configure

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def build_app(settings: Settings) -> web.Application:
    """The aiohttp application serving the webhook the way aiogram's examples do."""
    timings: list[float] = []

    @web.middleware
    async def timed(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        response = await handler(request)
        if request.path == settings.webhook_path:
            timings.append((time.perf_counter() - started) * 1000)
        return response

    async def stats(_: web.Request) -> web.Response:
        data = list(timings)
        timings.clear()
        return web.json_response({"ms": data})

    redis = create_redis(settings)
    storage = RedisStorage(
        redis,
        key_builder=ChatSlotKeyBuilder(),
        state_ttl=settings.fsm_state_ttl,
        data_ttl=settings.fsm_data_ttl,
    )
    dispatcher = Dispatcher(storage=storage)
    configure(dispatcher)  # as the bot's polling main() would
    bot = create_bot(settings, DEFAULTS)
    app = web.Application(middlewares=[timed])
    app.router.add_get("/stats", stats)
    SimpleRequestHandler(
        dispatcher, bot, handle_in_background=False, secret_token=settings.webhook_secret
    ).register(app, path=settings.webhook_path)
    setup_application(app, dispatcher, bot=bot)
    return app


if __name__ == "__main__":
    web.run_app(
        build_app(Settings.from_environ(os.environ)),
        host="127.0.0.1",
        port=int(sys.argv[1]),
        print=None,
        access_log=None,
    )
