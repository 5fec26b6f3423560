"""From a webhook body to a processed update: the path every update takes.

parse -> validate (or dead-letter) -> an album's part (`lambdagram.album_updates`) or one
update (`lambdagram.dispatch`: claim, handlers, commit) -> the webhook reply.
"""

from __future__ import annotations

from typing import Any

from lambdagram import albums
from lambdagram.album_updates import album_part
from lambdagram.dispatch import dead_letter, dispatch, prepare
from lambdagram.parsing import Unprocessable, to_update
from lambdagram.runtime import Runtime


async def process_update(
    runtime: Runtime,
    raw: dict[str, Any],
    *,
    max_wait: float,
    reply_in_webhook: bool = True,
    from_queue: bool = False,
) -> dict[str, Any]:
    """Process one raw update exactly once; the webhook response body.

    Raises `UpdateInFlight` or `ChatLocked` (Telegram should retry), `StorageUnavailable`
    when Redis fails; the update's FSM changes are then not written, and its claim is
    given back so the retry runs it afresh. A handler's exception is logged and answered
    normally: retrying a poison update would block the chat for 24 hours. ``from_queue``:
    the long-work worker runs it (`lambdagram.worker`).
    """
    bot = runtime.bot
    await prepare(runtime)
    try:
        update = to_update(raw, bot)
    except Unprocessable as error:
        return await dead_letter(runtime, raw, str(error))

    collects = runtime.blueprint.collects_albums and not from_queue
    group = albums.group_of(update) if collects else None
    if group is not None:
        return await album_part(runtime, update, raw, group, max_wait)
    return await dispatch(
        runtime, update, max_wait, reply_in_webhook, raw=raw, from_queue=from_queue
    )
