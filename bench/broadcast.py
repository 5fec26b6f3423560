"""A broadcast to many recipients against Telegram's flood control, its worker killed midway.

The fake Bot API answers 429 (``retry_after`` 1 s) past 30 messages in any second, and at
random besides; the announcer bot (``tests/support/bots/announcer.py``) starts the broadcast
through the webhook; the stand-in queue on loopback feeds workers (Lambda processes, the
deployed code path with ``BROADCAST_RATE``'s default), the first SIGKILLed once half the
recipients have their message. Counted from what the fake Bot API took: every recipient's
messages (duplicates, missed), and from the broadcast's own progress: unconfirmed.

    PYTHONPATH=. .venv/bin/python -m bench.broadcast --recipients 10000
"""

from __future__ import annotations

import argparse
import collections
import json
import threading
import time
from typing import Any

from lambdagram.local.events import lambda_event, message_update
from lambdagram.local.fake_sqs import FakeSQS, environment
from lambdagram.local.fake_telegram import FakeTelegram
from lambdagram.local.lambda_process import TIMEOUT_VARIABLE, LambdaProcess
from lambdagram.local.redis_server import RedisServer

from bench.workload import SECRET, TOKEN

TELEGRAM_RATE = 30  # messages a second, Telegram's limit for one bot
FLOOD_CHANCE = 0.001  # one message in a thousand answered 429 besides
FIRST_CHAT = 3_000_000
TEXT = "Bench announcement"
GB_SECOND = 0.0000133334  # Lambda arm64, $ per GB-s
PER_REQUEST = 0.20 / 1_000_000
SQS_FIFO_PER_REQUEST = 0.50 / 1_000_000
WORKER_MEMORY_GB = 0.5  # serverless.yml's workerMemory


def run(recipients: int, env: dict[str, str]) -> dict[str, Any]:
    """Broadcast to ``recipients`` chats; what Telegram took, how long, what the worker cost."""
    with FakeTelegram() as telegram, FakeSQS(visibility=5.0) as queue:
        telegram.limit(TELEGRAM_RATE, flood_chance=FLOOD_CHANCE, retry_after=1)
        full = {
            **env,
            **environment(queue),
            "TELEGRAM_API_URL": telegram.url,
            "LAMBDAGRAM_APP": "tests.support.bots.announcer:app",
        }
        webhook = LambdaProcess(full, quiet=True)
        worker_env = {**full, TIMEOUT_VARIABLE: "300000"}  # serverless.yml's workerTimeout
        workers = [LambdaProcess(worker_env, quiet=True)]
        busy_ms: list[float] = []

        def work(event: dict[str, Any]) -> dict[str, Any]:
            answered = workers[-1].invoke(event)  # raises once that worker was killed
            busy_ms.append(float(answered.pop("ms")))
            return answered

        def taken() -> list[int]:
            return [
                int(c.params["chat_id"])
                for c in telegram.calls_to("sendMessage")
                if c.result is not None and c.params.get("text") == TEXT
            ]

        last = FIRST_CHAT + recipients - 1
        started = time.perf_counter()
        update = message_update(f"/announce {FIRST_CHAT}-{last} {TEXT}", chat_id=1001)
        answer = webhook.invoke(lambda_event(update, secret=SECRET))
        assert answer["statusCode"] == 200, answer
        drained = threading.Thread(target=lambda: queue.drain(work, patience=3600), daemon=True)
        drained.start()
        killed_at = 0
        while drained.is_alive():
            time.sleep(0.2)
            if not killed_at and len(taken()) >= recipients // 2:
                killed_at = len(taken())
                workers[-1].kill()  # mid-broadcast, as a crash or Lambda's timeout does
                workers.append(LambdaProcess(worker_env, quiet=True))
        seconds = time.perf_counter() - started
        status = webhook.invoke({"lambdagram": {"broadcast": {"action": "status"}}})
        for process in (webhook, *workers):
            process.close()
        got = collections.Counter(taken())
    line = next(iter(status.get("lines") or [json.dumps(status)]))
    return {
        "recipients": recipients,
        "seconds": seconds,
        "duplicates": sum(n - 1 for n in got.values() if n > 1),
        "missed": recipients - len(got),
        "floods": telegram.floods,
        "killed_at": killed_at,
        "progress": line,
        # the killed invocation's time is billed too: the workers were busy all along
        "worker_seconds": max(sum(busy_ms) / 1000, seconds),
        "worker_invocations": len(busy_ms) + 1,  # the killed one's did not answer
    }


def report(result: dict[str, Any]) -> None:
    floor = result["recipients"] / TELEGRAM_RATE
    print(
        f"Broadcast to {result['recipients']} recipients (fake Bot API: 429 past "
        f"{TELEGRAM_RATE}/s and 1 in {round(1 / FLOOD_CHANCE)} at random; worker SIGKILLed "
        f"after {result['killed_at']} sent)"
    )
    print("| | measured | target |")
    print("|---|---|---|")
    print(f"| time | {result['seconds']:.0f} s ({result['seconds'] / floor:.3f}x the "
          f"{floor:.0f} s floor) | <= 1.1x |")  # fmt: skip
    print(f"| recipients messaged twice | {result['duplicates']} | 0 |")
    print(f"| recipients missed | {result['missed']} | 0 |")
    print(f"| 429s answered (all waited out) | {result['floods']} | |")
    print(f"| the broadcast's own count | {result['progress']} | |")
    print()
    per = 10_000 / result["recipients"]
    duration = result["worker_seconds"] * WORKER_MEMORY_GB * GB_SECOND * per
    requests = result["worker_invocations"] * PER_REQUEST * per
    sqs = 3 * result["worker_invocations"] * SQS_FIFO_PER_REQUEST * per
    print("Cost per 10,000 recipients (the worker waits on Telegram's pace: its time is billed)")
    print("| item | per 10,000 |")
    print("|---|---|")
    print(f"| worker duration: {result['worker_seconds'] * per:.0f} s x {WORKER_MEMORY_GB:g} GB "
          f"| ${duration:.4f} |")  # fmt: skip
    print(f"| worker requests and SQS rounds | ${requests + sqs:.6f} |")
    print(f"| **total** | **${duration + requests + sqs:.4f}** |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.broadcast", description=__doc__)
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--rate", type=int, help="BROADCAST_RATE (default: the engine's)")
    args = parser.parse_args(argv)
    with RedisServer() as redis_server:
        env = {
            "BOT_TOKEN": TOKEN,
            "WEBHOOK_SECRET": SECRET,
            "REDIS_URL": redis_server.url,
            "POWERTOOLS_LOG_LEVEL": "ERROR",
        }
        if args.rate:
            env["BROADCAST_RATE"] = str(args.rate)
        report(run(args.recipients, env))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
