"""Dialogs through a Redis that freezes now and then: does every step's reply arrive once?

The hardening pass's scenario, kept to be run again: ``DIALOGS`` questionnaires of four steps
each, delivered the way Telegram delivers (again after any non-2xx answer), while a thread
freezes the redis-server (SIGSTOP) ``STALLS`` times for 0.5-3 s at random moments. A step's
reply is lost if no delivery of it answered with its reply (the last one said "duplicate").

    .venv/bin/python scripts/stall_check.py [DIALOGS] [STALLS]
"""

from __future__ import annotations

import os
import random
import signal
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lambdagram.function import Lambdagram  # noqa: E402
from lambdagram.local.events import (  # noqa: E402
    LambdaContext,
    lambda_event,
    message_update,
    response_json,
)
from lambdagram.local.fake_telegram import FakeTelegram  # noqa: E402
from lambdagram.local.redis_server import RedisServer  # noqa: E402
from lambdagram.runtime import ensure_event_loop  # noqa: E402

TOKEN = "123456789:STALL-check-not-a-real-token-0123"
SECRET = "stall-check-secret"
PACE = 0.08  # seconds between a chat's steps (a user typing, spread over the stalls)
STEPS = [("/start", "What's your name?"), ("Ada", "Nice to meet you"), ("36", "about yourself")]


def main(dialogs: int = 90, stalls: int = 10) -> int:
    with RedisServer(persistent=True) as redis, FakeTelegram() as telegram:
        from tests.support.bots.form import dp

        app = Lambdagram(
            dp,
            environ={"BOT_TOKEN": TOKEN, "WEBHOOK_SECRET": SECRET, "REDIS_URL": redis.url,
                     "TELEGRAM_API_URL": telegram.url},
        )  # fmt: skip
        done = threading.Event()
        assert redis.process is not None
        pid = redis.process.pid

        frozen: list[float] = []

        def freeze() -> None:
            rng = random.Random(7)
            for _ in range(stalls):
                if done.wait(rng.uniform(0.5, 2.0)):
                    return
                os.kill(pid, signal.SIGSTOP)
                frozen.append(rng.uniform(0.5, 3.0))
                time.sleep(frozen[-1])
                os.kill(pid, signal.SIGCONT)

        stall_thread = threading.Thread(target=freeze, daemon=True)
        stall_thread.start()
        lost, retried, steps = 0, 0, 0
        started = time.monotonic()
        for chat in range(1, dialogs + 1):
            for text, expected in [*STEPS, ("/skip", "Thanks!")]:
                update = message_update(text, chat_id=chat)
                replies = 0
                while True:
                    raw = app.lambda_handler(lambda_event(update, secret=SECRET), LambdaContext())
                    body = response_json(raw)
                    if raw["statusCode"] == 200:
                        replies += expected in str(body.get("text", ""))
                        break
                    retried += 1
                    time.sleep(0.1)
                steps += 1
                lost += replies != 1
                time.sleep(PACE)
        done.set()
        stall_thread.join()
        ensure_event_loop().run_until_complete(app.close())
    seconds = time.monotonic() - started
    print(f"{steps} steps in {dialogs} dialogs, {len(frozen)} stalls of 0.5-3 s "
          f"({sum(frozen):.1f} s frozen), {seconds:.0f} s: "
          f"{retried} deliveries answered non-2xx and retried, {lost} replies lost")  # fmt: skip
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main(*map(int, sys.argv[1:])))
