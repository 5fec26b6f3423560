"""Where a warm update's time goes: each part of the path timed alone, in one process.

``PYTHONPATH=. python -m bench.breakdown`` starts its own Redis and fake Bot API, imports
``handler`` in this process, warms it, then sends the bench's questionnaire dialogs (600
updates a round, three rounds) and prints, per round, the median time of the whole
``handler.handler`` and of each part it is made of (each part wrapped with a timer, so the
parts add a little time of their own). A figure for the README's "Where a warm update's time
goes", not a ratio: the bench's own tables compare with aiogram's server.
"""

from __future__ import annotations

import functools
import inspect
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from lambdagram.local.events import lambda_event
from lambdagram.local.fake_telegram import FakeTelegram
from lambdagram.local.redis_server import RedisServer

from bench.cold_child import _Context
from bench.workload import SECRET, TOKEN, dialogs

ROUNDS, CHATS = 3, 120
Timings = dict[str, list[float]]


def timed(owner: Any, name: str, label: str, into: Timings) -> None:
    """Replace ``owner.name`` (a function or coroutine function) with one that records
    its milliseconds under ``label``."""
    original: Callable[..., Any] = getattr(owner, name)
    if inspect.iscoroutinefunction(original):

        @functools.wraps(original)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await original(*args, **kwargs)
            finally:
                into.setdefault(label, []).append((time.perf_counter() - started) * 1000)

        setattr(owner, name, wrapper)
        return

    @functools.wraps(original)
    def plain(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            into.setdefault(label, []).append((time.perf_counter() - started) * 1000)

    setattr(owner, name, plain)


def main() -> None:
    os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"  # as the bench's warm runs
    with RedisServer() as redis_server, FakeTelegram() as telegram:
        os.environ.update(
            {
                "BOT_TOKEN": TOKEN,
                "WEBHOOK_SECRET": SECRET,
                "REDIS_URL": redis_server.url,
                "TELEGRAM_API_URL": telegram.url,
            }
        )
        from aiogram import Dispatcher

        from lambdagram import app, blueprint, delivery, dispatch, updates

        import handler  # the example bot, as the bench runs it

        parts: Timings = {}
        labels = [
            "the update (validation to commit)",
            "  validation",
            "  Dispatcher built",
            "  claim (1 Redis round trip)",
            "  aiogram's feed_update (the handlers)",
            "  the reply",
            "  commit (1 Redis round trip)",
            "  Dispatcher discarded",
        ]
        places = [
            (app, "process_update"),
            (updates, "to_update"),
            (blueprint.Blueprint, "dispatcher"),
            (delivery.Claim, "acquire"),
            (Dispatcher, "feed_update"),
            (dispatch, "webhook_reply"),
            (dispatch, "commit"),
            (dispatch, "discard"),
        ]
        for (owner, name), label in zip(places, labels, strict=True):
            timed(owner, name, label, parts)
        context = _Context()
        for update in dialogs(20, 1000):
            handler.handler(lambda_event(update, secret=SECRET), context)
        print(f"# where a warm update goes ({CHATS * 5} updates a round, medians, ms)")
        for round_ in range(ROUNDS):
            parts.clear()
            events = [lambda_event(u, secret=SECRET) for u in dialogs(CHATS, 5000 + 1000 * round_)]
            whole = []
            for event in events:
                started = time.perf_counter()
                handler.handler(event, context)
                whole.append((time.perf_counter() - started) * 1000)
            medians = {
                label: statistics.median(parts[label]) for label in labels if parts.get(label)
            }
            inside = medians.pop(labels[0])
            edge = statistics.median(whole) - inside
            print(f"round {round_ + 1}: handler.handler {statistics.median(whole):.3f}")
            print(f"  mangum, Powertools, the app's admission and answer: {edge:.3f}")
            print(f"  {labels[0]}: {inside:.3f}")
            for label, value in medians.items():
                print(f"  {label}: {value:.3f}")
            print(f"    the rest (context managers, storage, log fields): "
                  f"{inside - sum(medians.values()):.3f}")  # fmt: skip
        sys.stdout.flush()


if __name__ == "__main__":
    main()
