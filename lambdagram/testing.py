"""``lambdagram.testing``: test your own bot through the path it runs on, in a few lines.

Enable it in your ``tests/conftest.py``::

    pytest_plugins = ["lambdagram.testing"]

and write tests against the ``telegram_bot`` fixture::

    def test_the_form(telegram_bot: BotUnderTest) -> None:
        chat = telegram_bot.chat()
        assert "What's your name?" in chat.send("/start").text
        chat.send("Ada")
        assert chat.state() == "Form:age"
        telegram_bot.restart()  # a cold instance: nothing in memory, the dialog in Redis
        assert "about yourself" in chat.send("36").text

    def test_a_reminder(telegram_bot: BotUnderTest) -> None:
        chat = telegram_bot.chat()
        chat.send("/remind 10 tea")
        assert telegram_bot.pass_time(minutes=10) == {chat.chat_id: ["⏰ tea"]}

Every update goes through ``handler.handler`` (or ``LAMBDAGRAM_APP=module:attribute``) as a
real Function URL event, with a real ``redis-server`` (started once per test session; the
package ``redis-server`` from apt) and a fake Telegram Bot API on loopback that answers with
Telegram's result shapes and records every call. What outlives the webhook's answer runs as
deployed, on stand-ins on loopback: a long handler's update and a broadcast go through a queue
to the worker before `Chat.send` returns (its `Reply` holds what the worker sent to that chat),
and timers wait in a stand-in Scheduler until `BotUnderTest.pass_time` fires the ones due.
Not deployed (the zip leaves it out).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import secrets
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from lambdagram.local import fake_scheduler, fake_sqs
from lambdagram.local.events import (
    LambdaContext,
    callback_update,
    lambda_event,
    message_update,
    next_update_id,
    photo_update,
    response_json,
)
from lambdagram.local.fake_telegram import ApiCall, FakeTelegram
from lambdagram.local.redis_server import RedisServer
from lambdagram.runtime import ensure_event_loop

if TYPE_CHECKING:
    from lambdagram.function import Lambdagram

TOKEN = "123456789:TESTING-kit-token-not-real-0123456"


@dataclass
class Reply:
    """What the bot did for one update: its Bot API calls, then its webhook reply."""

    calls: list[ApiCall]
    webhook: dict[str, Any]
    status: int

    @property
    def messages(self) -> list[dict[str, Any]]:
        """Every message sent or edited, as the Bot API got them (the webhook reply last)."""
        sent = [dict(c.params, method=c.method) for c in self.calls if _is_message(c.method)]
        if "method" in self.webhook and _is_message(str(self.webhook["method"])):
            sent.append(dict(self.webhook))
        return sent

    @property
    def texts(self) -> list[str]:
        """The texts (or captions) of `messages` that have one (not a keyboard's edit)."""
        return [str(m.get("text") or m.get("caption")) for m in self.messages
                if m.get("text") or m.get("caption")]  # fmt: skip

    @property
    def text(self) -> str:
        """The last message's text ("" if the bot sent none)."""
        return self.texts[-1] if self.texts else ""

    @property
    def buttons(self) -> list[str]:
        """The inline buttons of the last message with any, row after row."""
        for message in reversed(self.messages):
            rows = _markup(message).get("inline_keyboard") or []
            if rows:
                return [str(button["text"]) for row in rows for button in row]
        return []

    @property
    def alerts(self) -> list[str]:
        """The texts of the callback query answers (toasts and alerts)."""
        calls = [c for c in self.calls if c.method == "answerCallbackQuery"]
        answers = [c.params for c in calls]
        if self.webhook.get("method") == "answerCallbackQuery":
            answers.append(self.webhook)
        return [str(a["text"]) for a in answers if a.get("text")]


@dataclass
class Chat:
    """A private chat between the bot and one user."""

    bot: BotUnderTest
    chat_id: int
    first_name: str = "Alice"
    shown: list[Reply] = field(default_factory=list)

    def send(self, text: str | None) -> Reply:
        """The user sends ``text`` (a command if it starts with /; None: a sticker)."""
        return self.deliver(message_update(text, chat_id=self.chat_id, first_name=self.first_name))

    def send_photo(self, caption: str | None = None) -> Reply:
        """The user sends a photo."""
        update = photo_update(chat_id=self.chat_id)
        if caption is not None:
            update["message"]["caption"] = caption
        return self.deliver(update)

    def send_album(self, photos: int = 2) -> list[Reply]:
        """The user sends an album: one update per photo, as Telegram sends them."""
        group = f"album-{next_update_id()}"
        return [
            self.deliver(photo_update(chat_id=self.chat_id, media_group_id=group))
            for _ in range(photos)
        ]

    def press(self, label: str) -> Reply:
        """The user presses the newest inline button labelled ``label``."""
        for reply in reversed(self.shown):
            for message in reversed(reply.messages):
                for row in _markup(message).get("inline_keyboard") or []:
                    for button in row:
                        if button["text"] == label and "callback_data" in button:
                            message_id = message.get("message_id") or reply_message_id(reply)
                            update = callback_update(
                                button["callback_data"],
                                message_id=int(message_id or 1),
                                chat_id=self.chat_id,
                                text=str(message.get("text") or ""),
                            )
                            return self.deliver(update)
        msg = f"no inline button {label!r} was shown in chat {self.chat_id}"
        raise AssertionError(msg)

    def deliver(self, update: dict[str, Any]) -> Reply:
        """Deliver any update (Telegram's JSON) as a webhook request; what the bot did in this
        chat (the worker's part included: a long handler's, say)."""
        reply = self.bot.deliver(update)
        mine = [
            c
            for c in reply.calls
            if str(c.params.get("chat_id", self.chat_id)) == str(self.chat_id)
        ]
        reply = Reply(mine, reply.webhook, reply.status)
        self.shown.append(reply)
        return reply

    def state(self) -> str | None:
        """The chat's FSM state, as Redis holds it now."""
        return self.bot.redis_value(
            f"fsm:{{{self.bot.bot_id}:{self.chat_id}}}:{self.chat_id}:state"
        )

    def data(self) -> dict[str, Any]:
        """The chat's FSM data, as Redis holds it now."""
        raw = self.bot.redis_value(f"fsm:{{{self.bot.bot_id}:{self.chat_id}}}:{self.chat_id}:data")
        return json.loads(raw) if raw else {}


class BotUnderTest:
    """Your bot, invoked as Lambda invokes it; made by the ``telegram_bot`` fixture."""

    def __init__(
        self,
        redis_url: str,
        telegram: FakeTelegram,
        app_spec: str,
        queue: fake_sqs.FakeSQS | None = None,
        scheduler: fake_scheduler.FakeScheduler | None = None,
    ) -> None:
        self.telegram = telegram
        self.queue = queue
        self.scheduler = scheduler
        self.redis_url = redis_url
        self.app_spec = app_spec
        self.secret = secrets.token_urlsafe(16)
        self.bot_id = int(TOKEN.partition(":")[0])
        self.environ = {
            "BOT_TOKEN": TOKEN,
            "WEBHOOK_SECRET": self.secret,
            "REDIS_URL": redis_url,
            "TELEGRAM_API_URL": telegram.url,
            "LAMBDAGRAM_APP": app_spec,
        }
        if queue is not None:
            self.environ.update(fake_sqs.environment(queue))
        if scheduler is not None:
            self.environ.update(fake_scheduler.environment(scheduler))
        self._ahead = datetime.timedelta()  # the time let pass (`pass_time`), on the real clock
        self._chats = 0
        self._app: Lambdagram | None = None

    def chat(self, first_name: str = "Alice", *, user_id: int | None = None) -> Chat:
        """A new private chat with a user of its own (``user_id``: a given one, your admin's)."""
        self._chats += 1
        return Chat(self, user_id or 10_000 + self._chats, first_name)

    def deliver(self, update: dict[str, Any]) -> Reply:
        """Deliver ``update`` (twice to see what a redelivery does: it is a duplicate), then
        run what it queued on the worker; every chat's calls."""
        before = len(self.telegram.calls)
        response = self.app.lambda_handler(
            lambda_event(update, secret=self.secret), LambdaContext()
        )
        self.run_worker()
        body = response_json(response)
        return Reply(self.telegram.calls[before:], body if isinstance(body, dict) else {},
                     int(response["statusCode"]))  # fmt: skip

    def run_worker(self) -> None:
        """Run whatever is on the stand-in queue (long updates, broadcast rounds) on the
        worker, as the event source mapping would, until it is empty."""
        if self.queue is not None and self.queue.messages:
            worker = self.app.lambda_handler
            self.queue.drain(lambda event: worker(event, LambdaContext(timeout_ms=900_000)))

    def pass_time(
        self, seconds: float = 0.0, *, minutes: float = 0.0, hours: float = 0.0
    ) -> dict[int, list[str]]:
        """Let time pass for the bot's timers: fire the one-time timers due by then, as
        Scheduler would (at-least-once: each is fired twice, and must act once); the texts
        each chat was sent meanwhile. The kit's clock is the real one plus all the time let
        pass, as the bot's handlers read the real one when they make a timer."""
        assert self.scheduler is not None
        self._ahead += datetime.timedelta(seconds=seconds, minutes=minutes, hours=hours)
        before = len(self.telegram.calls)
        for event in self.scheduler.due(datetime.datetime.now(datetime.UTC) + self._ahead):
            for _ in range(2):
                self.app.lambda_handler(event, LambdaContext())
            self.run_worker()
        return self.texts_by_chat(self.telegram.calls[before:])

    def sent_to(self, chat_id: int) -> list[str]:
        """Every text (or caption) the bot has sent to ``chat_id`` (a broadcast's, say)."""
        return self.texts_by_chat(self.telegram.calls).get(chat_id, [])

    @staticmethod
    def texts_by_chat(calls: list[ApiCall]) -> dict[int, list[str]]:
        texts: dict[int, list[str]] = {}
        for call in calls:
            text = call.params.get("text") or call.params.get("caption")
            if _is_message(call.method) and text and call.result is not None:
                texts.setdefault(int(call.params["chat_id"]), []).append(str(text))
        return texts

    @property
    def app(self) -> Lambdagram:
        """The composition root's `Lambdagram`, imported on first use."""
        if self._app is None:
            from lambdagram.local.composition import load_app

            self._app = load_app()
        return self._app

    def restart(self) -> None:
        """A cold instance: the bot's modules imported again, new clients, nothing in memory
        but what Redis keeps."""
        self.close()
        root = Path.cwd().resolve()
        composition = self.app_spec.partition(":")[0]
        for name, module in list(sys.modules.items()):
            # a namespace package (a folder without __init__.py) has no file, only its path
            paths = [getattr(module, "__file__", None) or ""]
            paths += [str(p) for p in getattr(module, "__path__", None) or ()]
            mine = any(p.startswith(str(root)) and "site-packages" not in p for p in paths)
            ours = name.startswith(("lambdagram", "tests", "bench", "_pytest"))
            if name == composition or (mine and not ours):
                del sys.modules[name]  # the composition root and the bot's own modules

    def redis_value(self, key: str) -> str | None:
        import redis

        with contextlib.closing(redis.Redis.from_url(self.redis_url, decode_responses=True)) as r:
            value = r.get(key)
        return None if value is None else str(value)

    def close(self) -> None:
        if self._app is not None:
            ensure_event_loop().run_until_complete(self._app.close())
            self._app = None


def _is_message(method: str) -> bool:
    return method.startswith(("send", "edit", "copy", "forward")) and method != "sendChatAction"


def _markup(message: dict[str, Any]) -> dict[str, Any]:
    markup = message.get("reply_markup")
    markup = json.loads(markup) if isinstance(markup, str) else markup
    return markup if isinstance(markup, dict) else {}


def reply_message_id(reply: Reply) -> int | None:
    """The id Telegram gave the reply's last sent message (the fake Bot API's result)."""
    for call in reversed(reply.calls):
        result = call.result if isinstance(call.result, dict) else {}
        if "message_id" in result:
            return int(result["message_id"])
    return None


@dataclass(frozen=True)
class Servers:
    """What the ``telegram_bot`` fixture talks to, started once per test session."""

    redis_url: str
    telegram: FakeTelegram
    queue: fake_sqs.FakeSQS
    scheduler: fake_scheduler.FakeScheduler


@pytest.fixture(scope="session")
def lambdagram_servers() -> Iterator[Servers]:
    """A real redis-server, the fake Bot API, the stand-in queue and Scheduler."""
    with (
        RedisServer() as redis_server,
        FakeTelegram() as telegram,
        fake_sqs.FakeSQS() as queue,
        fake_scheduler.FakeScheduler() as scheduler,
    ):
        yield Servers(redis_server.url, telegram, queue, scheduler)


@pytest.fixture
def telegram_bot(
    lambdagram_servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> Iterator[BotUnderTest]:
    """Your bot (``handler:app``, or ``LAMBDAGRAM_APP``), on an empty Redis, a fresh fake
    Bot API, an empty queue and no timers."""
    import redis

    servers = lambdagram_servers
    with contextlib.closing(redis.Redis.from_url(servers.redis_url)) as client:
        client.flushall()
    servers.telegram.clear()
    servers.queue.messages.clear()
    servers.scheduler.schedules.clear()
    spec = os.environ.get("LAMBDAGRAM_APP", "handler:app")
    bot = BotUnderTest(servers.redis_url, servers.telegram, spec, servers.queue, servers.scheduler)
    for name, value in bot.environ.items():
        monkeypatch.setenv(name, value)
    bot.restart()  # the bot's modules as a cold instance imports them
    yield bot
    bot.close()
