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
import tempfile

from lambdagram.cli import load_app
from lambdagram.local.events import LambdaContext, lambda_event, message_update, response_json
from lambdagram.local.fake_telegram import FakeTelegram
from lambdagram.local.redis_server import RedisServer
from lambdagram.local.transcript import bot_lines
from lambdagram.runtime import ensure_event_loop

TOKEN = "123456789:LOCAL-chat-not-a-real-token-012345"
CHAT_ID = 777


def run() -> int:
    """Read lines until EOF or /quit, answering each through the Lambda handler."""
    with contextlib.ExitStack() as stack:
        redis_url = os.environ.get("REDIS_URL")
        if not redis_url:
            redis_url = stack.enter_context(RedisServer()).url
        telegram = stack.enter_context(FakeTelegram())
        secret = secrets.token_urlsafe(16)
        os.environ.update(
            BOT_TOKEN=TOKEN,
            WEBHOOK_SECRET=secret,
            REDIS_URL=redis_url,
            TELEGRAM_API_URL=telegram.url,
        )
        logs = stack.enter_context(
            tempfile.NamedTemporaryFile(
                "w", prefix="lambdagram-chat-", suffix=".log", delete=False
            )
        )
        with contextlib.redirect_stdout(logs):  # the logger keeps the stream it starts with
            app = load_app()

        print(
            f"Chatting with the bot (Redis: {redis_url}; the function's logs: {logs.name}).\n"
            "Send /start to begin; /quit or Ctrl-D to leave."
        )
        while True:
            try:
                text = input("you > ").strip()
            except EOFError:
                print()
                break
            if text in {"/quit", "/exit"}:
                break
            if not text:
                continue
            telegram.clear()
            event = lambda_event(message_update(text, chat_id=CHAT_ID), secret=secret)
            with contextlib.redirect_stdout(logs):  # EMF metrics are printed per invocation
                response = app.lambda_handler(event, LambdaContext())
            if response["statusCode"] != 200:
                print(
                    f"  !! HTTP {response['statusCode']}: {response.get('body')}", file=sys.stderr
                )
            for line in bot_lines(telegram.calls, response_json(response)):
                print(line)
        ensure_event_loop().run_until_complete(app.close())
    return 0
