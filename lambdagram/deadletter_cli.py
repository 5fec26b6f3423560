"""``python -m lambdagram deadletter list|replay``: look at and replay dead-lettered updates."""

from __future__ import annotations

import datetime
import os
from typing import TextIO

from lambdagram import deadletter
from lambdagram.delivery import chat_slot, forget_given_up
from lambdagram.dispatch import fsm_key, replaying
from lambdagram.function import Lambdagram
from lambdagram.observability import metrics
from lambdagram.parsing import Unprocessable, to_update
from lambdagram.runtime import Runtime, ensure_event_loop
from lambdagram.settings import Settings
from lambdagram.updates import process_update


def run(action: str, out: TextIO, app: Lambdagram) -> int:
    """Run ``list`` or ``replay`` (through ``app``'s bot) against the configured Redis."""
    settings = Settings.from_environ(os.environ)
    return ensure_event_loop().run_until_complete(_run(settings, action, out, app))


async def _run(settings: Settings, action: str, out: TextIO, app: Lambdagram) -> int:
    runtime = Runtime.create(settings, app.blueprint, app.default)
    try:
        if action == "list":
            return await _list(runtime, out)
        return await _replay(runtime, out)
    finally:
        metrics.clear_metrics()  # a replay is no invocation: nothing to report to CloudWatch
        await runtime.close()


async def _list(runtime: Runtime, out: TextIO) -> int:
    letters = await deadletter.entries(runtime.redis, runtime.bot.id)
    if not letters:
        print("No dead letters.", file=out)
        return 0
    print(f"{len(letters)} dead letter(s), oldest first:", file=out)
    for letter in letters:
        when = datetime.datetime.fromtimestamp(letter.received_at, datetime.UTC)
        kinds = ",".join(sorted(set(letter.update) - {"update_id"})) or "-"
        print(f"  {when:%Y-%m-%d %H:%M:%S}Z  update {letter.update_id}  [{kinds}]", file=out)
        print(f"      {letter.error}", file=out)
    return 0


async def _replay(runtime: Runtime, out: TextIO) -> int:
    """Process every dead letter this aiogram can now validate; keep the others."""
    letters = await deadletter.entries(runtime.redis, runtime.bot.id)
    replayed = kept = 0
    for letter in letters:
        try:
            update = to_update(letter.update, runtime.bot)
        except Unprocessable as error:
            kept += 1
            print(f"  update {letter.update_id}: still unprocessable: {error}", file=out)
            continue
        bot, root = runtime.bot, runtime.blueprint.root
        slot = chat_slot(bot.id, fsm_key(root, bot, update))
        await forget_given_up(runtime.scripts, slot, letter.update_id)  # given up: runs now
        with replaying():
            body = await process_update(
                runtime, letter.update, max_wait=runtime.settings.lock_wait, reply_in_webhook=False
            )
        await deadletter.remove(runtime.redis, runtime.bot.id, letter)
        replayed += 1
        outcome = "already processed" if body.get("duplicate") else "processed"
        print(f"  update {letter.update_id}: {outcome}", file=out)
    print(f"Replayed {replayed}, kept {kept}.", file=out)
    return 0
