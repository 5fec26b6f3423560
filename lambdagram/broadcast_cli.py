"""``python -m lambdagram broadcast start|status|cancel|resend-unconfirmed``: from a terminal.

It uses the function's environment, as ``deadletter`` does (``BOT_TOKEN``, ``REDIS_URL``,
``LONG_WORK_QUEUE_URL`` and AWS credentials for the queue); where Redis is only reachable from
inside the VPC, ``make broadcast`` sends the same request to the deployed function instead.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, TextIO

from lambdagram import broadcasts
from lambdagram.deferred import INTERNAL_KEY
from lambdagram.function import Lambdagram
from lambdagram.observability import metrics
from lambdagram.runtime import Runtime, ensure_event_loop
from lambdagram.settings import Settings

CHAT_ID = re.compile(r"-?[1-9][0-9]{0,15}")
"""A chat id as Telegram writes one: ASCII digits, an optional minus, at most 52 bits (so no
``1_000``, ``+5``, Arabic-Indic digits or ``10**30``, which Python's ``int`` would take)."""


def read_recipients(path: str) -> list[int]:
    """Chat ids from a file, one per line (``#`` comments and blank lines allowed)."""
    chats: list[int] = []
    try:
        lines = Path(path).read_bytes().decode("utf-8").splitlines()
    except UnicodeDecodeError as error:
        msg = f"{path}: not UTF-8 text (byte {error.start}): one chat id per line"
        raise broadcasts.BroadcastError(msg) from None
    for number, line in enumerate(lines, start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        if not CHAT_ID.fullmatch(text) or abs(int(text)) > broadcasts.LARGEST_CHAT_ID:
            msg = f"{path}:{number}: {text!r} is not a chat id (one integer per line)"
            raise broadcasts.BroadcastError(msg)
        chats.append(int(text))
    return chats


def print_payload(args: Any, out: TextIO) -> int:
    """Print the request as the function's internal event (no Redis or queue needed here)."""
    asked = {k: v for k, v in vars(args).items() if v and k not in {"command", "payload", "to"}}
    if args.action == "start":
        asked["recipients"] = read_recipients(args.to)
    print(json.dumps({INTERNAL_KEY: {"broadcast": asked}}, separators=(",", ":")), file=out)
    return 0


def run(args: Any, out: TextIO, app: Lambdagram) -> int:
    """Run the ``broadcast`` command ``args.action`` against the configured Redis and queue."""
    settings = Settings.from_environ(os.environ)
    return ensure_event_loop().run_until_complete(_run(settings, args, out, app))


async def _run(settings: Settings, args: Any, out: TextIO, app: Lambdagram) -> int:
    runtime = Runtime.create(settings, app.blueprint, app.default)
    try:
        return await request(runtime, vars(args), out)
    finally:
        metrics.clear_metrics()  # no invocation: nothing to report to CloudWatch
        await runtime.close()


async def request(runtime: Runtime, asked: dict[str, Any], out: TextIO) -> int:
    """Carry out one broadcast request and print its answer."""
    if asked["action"] == "start" and not asked.get("recipients"):
        asked = {**asked, "recipients": read_recipients(asked["to"])}
    for line in await broadcasts.carry_out(runtime, asked):
        print(line, file=out)
    return 0
