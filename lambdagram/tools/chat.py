"""``python -m lambdagram chat``: talk to the bot in the terminal through the real Lambda path.

Every line you type becomes a Telegram update inside a Function URL event, handed to
``handler.handler`` exactly as Lambda would. Replies come from the webhook response and
from the fake Bot API. With ``REDIS_URL`` set, the dialog is kept in that Redis (quit
mid-form and come back); otherwise a throwaway redis-server is started.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
import time
from typing import Any

from redis.exceptions import RedisError

from lambdagram.local import fake_scheduler, log_file
from lambdagram.local.composition import load_app
from lambdagram.local.events import (
    LambdaContext,
    callback_update,
    lambda_event,
    message_update,
    response_json,
)
from lambdagram.local.fake_sqs import FakeSQS, environment
from lambdagram.local.fake_telegram import FakeTelegram
from lambdagram.local.redis_server import RedisServer
from lambdagram.local.transcript import Button, bot_lines
from lambdagram.redaction import redact
from lambdagram.runtime import ensure_event_loop
from lambdagram.settings import Settings, SettingsError

TOKEN = "123456789:LOCAL-chat-not-a-real-token-012345"
CHAT_ID = 777


def typed_update(text: str, buttons: list[Button]) -> dict[str, Any] | None:
    """What typing ``text`` sends: a message, or ``#N`` a press of button N (None: no such)."""
    if not (text.startswith("#") and text[1:].isdigit()):
        return message_update(text, chat_id=CHAT_ID)
    number = int(text[1:])
    if not 1 <= number <= len(buttons):
        return None
    button = buttons[number - 1]
    return callback_update(button.data, message_id=button.message_id, chat_id=CHAT_ID)


def _where_the_chat_stands(redis_url: str) -> str | None:
    """The chat's FSM state and data in Redis, in words, or None if it has none."""
    from aiogram.fsm.storage.base import StorageKey

    from lambdagram.storage import create_redis, create_storage

    settings = Settings.from_environ(os.environ)
    key = StorageKey(bot_id=int(TOKEN.split(":")[0]), chat_id=CHAT_ID, user_id=CHAT_ID)

    async def read() -> tuple[str | None, dict[str, Any]]:
        redis = create_redis(settings)
        try:
            storage = create_storage(redis, settings)
            return await storage.get_state(key), await storage.get_data(key)
        finally:
            await redis.aclose()

    state, data = ensure_event_loop().run_until_complete(read())
    if state is None and not data:
        return None
    shown = ", ".join(f"{name}={value!r}" for name, value in data.items()) or "none"
    return f"state {state or '(none)'}, data {shown}"


def fire_due(
    app: Any, scheduler: fake_scheduler.FakeScheduler, telegram: FakeTelegram, logs: Any
) -> list[str]:
    """Fire the timers that are due, as Scheduler invokes the function; what the bot said."""
    lines: list[str] = []
    for event in scheduler.due():
        before = len(telegram.calls)
        with contextlib.redirect_stdout(logs):
            app.lambda_handler(event, LambdaContext())
        lines.append(f"  (timer {event['lambdagram']['job']['timer']} fired)")
        lines.extend(bot_lines(telegram.calls[before:], None))
    return lines


def wait(
    text: str,
    app: Any,
    scheduler: fake_scheduler.FakeScheduler,
    telegram: FakeTelegram,
    logs: Any,
) -> None:
    """``/wait N``: let N seconds pass, firing timers as they come due."""
    try:
        seconds = float(text.split()[1]) if len(text.split()) > 1 else 1.0
    except ValueError:
        print("  (/wait takes seconds: /wait 5)")
        return
    deadline = time.monotonic() + seconds
    while True:
        for line in fire_due(app, scheduler, telegram, logs):
            print(line)
        left = deadline - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(0.2, left))


def run_worker(app: Any) -> Any:
    """The worker function of ``app`` (an SQS batch in, the partial batch response out)."""
    return lambda event: app.lambda_handler(event, LambdaContext(timeout_ms=900_000))


def run() -> int:
    """Read lines until EOF or /quit, answering each through the Lambda handler."""
    with contextlib.ExitStack() as stack:
        redis_url = os.environ.get("REDIS_URL")
        if not redis_url:
            redis_url = stack.enter_context(RedisServer()).url
        telegram = stack.enter_context(FakeTelegram())
        queue = stack.enter_context(FakeSQS())  # long handlers' stand-in queue
        scheduler = stack.enter_context(fake_scheduler.FakeScheduler())  # timers' stand-in
        secret = secrets.token_urlsafe(16)
        os.environ.update(
            **environment(queue),
            **fake_scheduler.environment(scheduler),
            BOT_TOKEN=TOKEN,
            WEBHOOK_SECRET=secret,
            REDIS_URL=redis_url,
            TELEGRAM_API_URL=telegram.url,
        )
        logs = stack.enter_context(log_file("chat").open("w"))
        try:
            Settings.from_environ(os.environ)  # a wrong REDIS_URL, say, is one clear line
        except SettingsError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        with contextlib.redirect_stdout(logs):  # the logger keeps the stream it starts with
            app = load_app()

        where_to = redact(redis_url)
        try:
            where = _where_the_chat_stands(redis_url)
        except RedisError as error:  # one line, not the client's traceback
            reason = redact(f"{type(error).__name__}: {error}")
            print(
                f"error: no Redis answers at {where_to} ({reason}): start it, or unset REDIS_URL "
                "for a throwaway redis-server",
                file=sys.stderr,
            )
            return 1
        print(f"Chatting with the bot (Redis: {where_to}; the function's logs: {logs.name}).")
        if where:
            print(f"Resuming this chat from Redis: {where}. Carry on where you left off.")
        else:
            print("Send /start to begin.")
        print(
            "Press a button with #1, #2, ...; /wait N lets N seconds pass (timers fire on time);"
        )
        print("/quit or Ctrl-D to leave.")
        buttons: list[Button] = []
        while True:
            try:
                text = input("you > ").strip()
            except (EOFError, KeyboardInterrupt):  # Ctrl-D or Ctrl-C: leave quietly
                print()
                break
            if text in {"/quit", "/exit"}:
                break
            for line in fire_due(app, scheduler, telegram, logs):  # timers due meanwhile
                print(line)
            if text.startswith("/wait"):
                wait(text, app, scheduler, telegram, logs)
                continue
            if not text:
                continue
            update = typed_update(text, buttons)
            if update is None:
                shown_now = f"#1-#{len(buttons)}" if buttons else "none"
                print(f"  (no button {text}: the buttons shown are {shown_now})")
                continue
            before = len(telegram.calls)
            event = lambda_event(update, secret=secret)
            with contextlib.redirect_stdout(logs):  # EMF metrics are printed per invocation
                response = app.lambda_handler(event, LambdaContext())
            if response["statusCode"] != 200:
                print(
                    f"  !! HTTP {response['statusCode']}: {response.get('body')}", file=sys.stderr
                )
            shown: list[Button] = []
            made = telegram.calls[before:]
            for line in bot_lines(made, response_json(response), shown, chat_id=CHAT_ID):
                print(line)
            if queue.messages:  # a long handler or a broadcast: the worker runs it now
                print("  (answered at once; the worker runs what was queued...)")
                before = len(telegram.calls)
                with contextlib.redirect_stdout(logs):
                    queue.drain(run_worker(app))
                for line in bot_lines(telegram.calls[before:], None, shown, chat_id=CHAT_ID):
                    print(line)
            buttons = shown or buttons
        ensure_event_loop().run_until_complete(app.close())
    return 0
