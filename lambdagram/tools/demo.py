"""The demo: a scripted questionnaire through the real Lambda path, surviving a kill.

A throwaway redis-server and a fake Bot API run on loopback. Each "Lambda instance" is a
separate OS process that imports ``handler`` and is invoked with real Function URL events.
Instance #1 is SIGKILLed in the middle of the form; instance #2, a cold start with nothing
in memory, continues the dialog from what Redis holds.
"""

from __future__ import annotations

import json
import secrets
import sys

import redis

from lambdagram.local import log_file
from lambdagram.local.events import lambda_event, message_update, response_json
from lambdagram.local.fake_sqs import FakeSQS, environment
from lambdagram.local.fake_telegram import ApiCall, FakeTelegram
from lambdagram.local.lambda_process import LambdaProcess
from lambdagram.local.redis_server import RedisServer
from lambdagram.local.transcript import bot_lines

TOKEN = "123456789:DEMO-not-a-real-token-0123456789"
CHAT_ID = 4242
BEFORE_KILL = ["/start", "Ada Lovelace", "two hundred", "36"]
AFTER_KILL = [
    "<a sticker>",
    "I write programs for machines that do not exist yet.",
    "/cancel",
    "/card",  # a long handler: answered at once, run by the worker
]


def run() -> int:
    """Run the demo; 0 when the dialog completed across the restart."""
    secret = secrets.token_urlsafe(24)
    logs = log_file("demo").open("w")
    with logs, RedisServer() as redis_server, FakeTelegram() as telegram, FakeSQS() as queue:
        env = {
            **environment(queue),  # the long-work queue's stand-in
            "BOT_TOKEN": TOKEN,
            "WEBHOOK_SECRET": secret,
            "REDIS_URL": redis_server.url,
            "TELEGRAM_API_URL": telegram.url,
            "POWERTOOLS_LOG_LEVEL": "INFO",  # one "update processed" line per update
        }
        print(f"redis-server on {redis_server.url}, fake Bot API on {telegram.url}")
        print(f"the function's JSON logs and EMF metrics go to {logs.name}\n")

        sent: list[ApiCall] = []

        def talk(instance: LambdaProcess, text: str) -> None:
            update = message_update(None if text.startswith("<") else text, chat_id=CHAT_ID)
            telegram.clear()
            response = instance.invoke(lambda_event(update, secret=secret))
            sent.extend(telegram.calls)
            print(f"  you > {text}")
            for line in bot_lines(telegram.calls, response_json(response)):
                print(line)
            print(
                f"        (HTTP {response['statusCode']}, {response['ms']:.0f} ms in the handler)"
            )
            if queue.messages:  # a long handler: the worker function runs it now
                telegram.clear()
                ms = 0.0

                def worker(event: dict[str, object]) -> dict[str, object]:
                    nonlocal ms
                    answer = instance.invoke(event)
                    ms += float(str(answer.pop("ms")))
                    return answer

                queue.drain(worker)
                sent.extend(telegram.calls)
                for line in bot_lines(telegram.calls, None):
                    print(line)
                print(f"        (the worker, from the long-work queue: {ms:.0f} ms)")

        first = LambdaProcess(env, log=logs)
        print(f"Lambda instance #1 (pid {first.pid}) cold start: {first.init_seconds:.2f} s")
        for text in BEFORE_KILL:
            talk(first, text)
        first.kill()
        print("\nLambda instance #1 killed with SIGKILL mid-form. What Redis holds for the chat:")
        client = redis.Redis.from_url(redis_server.url)
        for key in sorted(client.scan_iter(match=f"fsm:*{CHAT_ID}*")):
            value = client.get(key)
            print(f"  {key.decode()} = {value.decode() if isinstance(value, bytes) else value}")

        second = LambdaProcess(env, log=logs)
        print(f"\nLambda instance #2 (pid {second.pid}) cold start: {second.init_seconds:.2f} s")
        for text in AFTER_KILL:
            talk(second, text)
        second.close()
        left = sorted(client.scan_iter(match=f"fsm:*{CHAT_ID}*"))
        client.close()

    summary = [call for call in sent if "Your answers" in str(call.params.get("text"))]
    if not summary:
        print("\nFAILED: the bot never sent the summary", file=sys.stderr)
        return 1
    text = str(summary[0].params["text"])
    if "Ada Lovelace" not in text or "36" not in text:
        print(f"\nFAILED: the summary lacks the name or age: {json.dumps(text)}", file=sys.stderr)
        return 1
    print(
        "\nSUCCESS: the dialog began in Lambda instance #1, survived its SIGKILL in Redis, and "
        "was finished by instance #2 with the name and age typed before the kill"
        f" (FSM keys left for the chat: {len(left)})."
    )
    return 0
