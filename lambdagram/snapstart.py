"""Lambda SnapStart (Python 3.12+): snapshot a warm process, reconnect after restore.

With SnapStart, Lambda runs the init phase once per published version, snapshots the
memory, and starts new instances from that snapshot. `register` adds two hooks:

before the snapshot
    build what the first updates would otherwise build: aiogram's models for an update
    and a reply, a Dispatcher (filling the handler-signature cache), then freeze the heap.
    Nothing connects: sockets do not survive a snapshot.
after a restore
    forget the process's clients, so the first update opens fresh Redis and Bot API
    connections instead of using ones that were open (if any) when the snapshot was taken,
    and seed ``random`` again from the OS: every instance restored from one snapshot would
    otherwise draw the same numbers (aiogram-dialog's intent ids among them, which would
    then collide across instances). ``secrets`` and ``uuid4`` read the OS each time.

The hooks come from ``snapshot_restore_py``, which the Lambda Python runtime provides; where
it is missing (local runs) nothing is registered.
"""

from __future__ import annotations

import gc
import random
from typing import TYPE_CHECKING, Protocol

from redis.asyncio import Redis

if TYPE_CHECKING:
    from aiogram.client.default import DefaultBotProperties

    from lambdagram.app import WebhookApp
    from lambdagram.blueprint import Blueprint


class Snapshotted(Protocol):
    """What the hooks need of the app (`lambdagram.Lambdagram`; named here, not imported,
    since the app registers the hooks)."""

    blueprint: Blueprint
    default: DefaultBotProperties | None

    def webhook(self) -> WebhookApp: ...

    def forget_clients(self) -> None: ...


SAMPLE_UPDATE = {
    "update_id": 1,
    "message": {
        "message_id": 1,
        "date": 1700000000,
        "chat": {"id": 1, "type": "private", "first_name": "SnapStart"},
        "from": {"id": 1, "is_bot": False, "first_name": "SnapStart"},
        "text": "/start",
        "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
    },
}


def register(app: Snapshotted) -> bool:
    """Register the hooks; False when not running on a runtime that offers them."""
    try:
        from snapshot_restore_py import register_after_restore, register_before_snapshot
    except ImportError:
        return False
    register_before_snapshot(lambda: warm(app))
    register_after_restore(lambda: restored(app))
    return True


def restored(app: Snapshotted) -> None:
    """What each instance restored from the snapshot does first: new clients, new seed."""
    app.forget_clients()
    random.seed()


def warm(app: Snapshotted) -> None:
    """Read the settings, build models, a Dispatcher and a reply, then freeze the heap.

    It also runs the modules a cold start leaves for their first use (aiohttp and aiogram's
    session on it, `lambdagram.lazy_types`): in a snapshot they cost nothing. The only I/O
    is reading the SSM parameters (no connection outlives it)."""
    from aiogram.client.session.aiohttp import AiohttpSession  # noqa: F401 - see below
    from aiogram.methods import SendMessage
    from aiogram.types import Update

    from lambdagram.blueprint import discard
    from lambdagram.fsm import BufferedStorage
    from lambdagram.reply import webhook_reply
    from lambdagram.runtime import create_bot
    from lambdagram.storage import create_storage

    settings = app.webhook().settings
    bot = create_bot(settings, app.default)  # no session is opened until a request is made
    Update.model_validate(SAMPLE_UPDATE, context={"bot": bot})
    webhook_reply(bot, SendMessage(chat_id=1, text="warm"))
    unused = Redis.from_url(settings.redis_url)  # never connects
    storage = BufferedStorage(create_storage(unused, settings))
    discard(app.blueprint.dispatcher(storage))
    gc.collect()
    gc.freeze()
