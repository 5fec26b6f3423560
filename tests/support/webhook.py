"""Talking to the Lambda handler the way Telegram (through AWS) does."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lambdagram.local.events import (
    LambdaContext,
    Shape,
    lambda_event,
    message_update,
    response_json,
)
from lambdagram.local.fake_telegram import ApiCall, FakeTelegram

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


@dataclass
class Reply:
    """What one invocation produced: the HTTP response and the Bot API calls it made."""

    status: int
    body: Any
    api_calls: list[ApiCall]
    raw: dict[str, Any]

    @property
    def text(self) -> str:
        """The text of the webhook reply (empty when there is none)."""
        return str(self.body.get("text", "")) if isinstance(self.body, dict) else ""

    @property
    def texts(self) -> list[str]:
        """Every message text the bot sent: Bot API calls first, then the webhook reply."""
        sent = [str(call.params["text"]) for call in self.api_calls if "text" in call.params]
        return [*sent, self.text] if self.text else sent


@dataclass
class WebhookClient:
    """Sends updates to a handler as Lambda events of one shape."""

    handler: Handler
    secret: str
    telegram: FakeTelegram
    shape: Shape = "function_url"

    def post(
        self,
        body: dict[str, Any] | str | bytes,
        context: LambdaContext | None = None,
        **event_args: Any,
    ) -> Reply:
        """Invoke the handler with ``body`` POSTed to the webhook (secret included)."""
        event_args.setdefault("secret", self.secret)
        event_args.setdefault("shape", self.shape)
        return self.invoke(lambda_event(body, **event_args), context)

    def invoke(self, event: dict[str, Any], context: LambdaContext | None = None) -> Reply:
        """Invoke the handler with a ready-made event (and a Lambda context with 25 s left)."""
        before = len(self.telegram.calls)
        raw = self.handler(event, context or LambdaContext())
        return Reply(int(raw["statusCode"]), response_json(raw), self.telegram.calls[before:], raw)

    def say(
        self,
        text: str | None,
        chat_id: int = 1001,
        context: LambdaContext | None = None,
        **update_args: Any,
    ) -> Reply:
        """A user in ``chat_id`` sends ``text`` (None: a sticker)."""
        return self.post(message_update(text, chat_id=chat_id, **update_args), context)
