"""Process-lifetime resources: what may be reused across warm invocations.

Only connection pools and clients live here (the Redis pool, the Bot with its HTTP
session), beside the bot's configured `Blueprint`. Nothing about a conversation does: FSM
state is read from Redis on every update by a Dispatcher built for that update.
"""

from __future__ import annotations

import asyncio
import os
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.middlewares.base import NextRequestMiddlewareType
from aiogram.client.telegram import TelegramAPIServer
from aiogram.methods import TelegramMethod
from redis.asyncio import Redis

from lambdagram import tracing
from lambdagram.blueprint import Blueprint
from lambdagram.delivery import Scripts
from lambdagram.session import BotApiSession
from lambdagram.settings import Settings
from lambdagram.storage import create_redis

if TYPE_CHECKING:
    from lambdagram.sqs import Queue
    from lambdagram.timers import Backend

BOT_API_TIMEOUT = 10  # seconds; well inside the Lambda timeout


def ensure_event_loop() -> asyncio.AbstractEventLoop:
    """The thread's event loop, made if there is none.

    mangum runs every invocation of the process on this one loop, so pools bound to it
    stay usable while the process is warm. (Python 3.12 warns when mangum has to make it.)
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.12-3.13: "no current event loop"
        try:
            loop = asyncio.get_event_loop()
        except RuntimeError:  # 3.14+: no implicit loop
            loop = None
    if loop is None or loop.is_closed():
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
    return loop


def create_bot(settings: Settings, default: DefaultBotProperties | None = None) -> Bot:
    """The Bot and its HTTP session, pointed at ``TELEGRAM_API_URL``.

    ``default`` is the bot's own ``DefaultBotProperties`` (parse mode, link previews, ...):
    a bot that sets none sends exactly what it sends under polling.
    """
    session = BotApiSession(
        api=TelegramAPIServer.from_base(settings.telegram_api_url),
        timeout=BOT_API_TIMEOUT,
    )
    if tracing.enabled():
        tracing.tracer()  # fail at start, not on the first call, if the SDK is missing
        session.middleware(_traced_request)
    return Bot(settings.bot_token, session=session, default=default)


async def _traced_request(
    make_request: NextRequestMiddlewareType[Any], bot: Bot, method: TelegramMethod[Any]
) -> Any:
    """Each Bot API call in its own X-Ray subsegment (registered only when tracing is on)."""
    async with tracing.span(f"telegram.{method.__api_method__}"):
        return await make_request(bot, method)


@dataclass(slots=True)
class Runtime:
    """The clients one process shares between invocations, bound to one event loop."""

    settings: Settings
    blueprint: Blueprint
    redis: Redis
    bot: Bot
    scripts: Scripts
    loop: asyncio.AbstractEventLoop
    queue: Queue | None = None  # the long-work queue, when there is one and work for it
    timers: Backend | None = None  # where timers are kept, when configured and the bot has jobs
    eviction_checked: bool = False

    @classmethod
    def create(
        cls,
        settings: Settings,
        blueprint: Blueprint,
        default: DefaultBotProperties | None = None,
    ) -> Runtime:
        """Clients for the running loop; nothing connects until first used."""
        redis = create_redis(settings)
        queue = None
        if settings.long_work_queue_url and blueprint.needs_queue:
            from lambdagram.sqs import Queue  # only bots with long handlers or broadcasts

            queue = Queue(settings.long_work_queue_url, os.environ)
        timers = None
        if settings.timers_group and blueprint.registers_jobs:
            from lambdagram.scheduler import Scheduler, SchedulerBackend  # bots with jobs only

            timers = SchedulerBackend(
                Scheduler(settings.timers_group, os.environ),
                settings.timers_target_arn,
                settings.timers_role_arn,
                settings.timers_dlq_arn,
            )
        return cls(
            queue=queue,
            timers=timers,
            settings=settings,
            blueprint=blueprint,
            redis=redis,
            bot=create_bot(settings, default),
            scripts=Scripts.register(redis),
            loop=asyncio.get_running_loop(),
        )

    async def close(self) -> None:
        """Close the pools (tests and local tools; Lambda just freezes the process)."""
        await self.bot.session.close()
        await self.redis.aclose()
        if self.queue is not None:
            await self.queue.close()
        if self.timers is not None:
            await self.timers.close()
