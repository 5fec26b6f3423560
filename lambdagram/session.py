"""The Bot API session: aiogram's aiohttp session, made on the first call, with answers it
cannot classify told apart.

Whether an update is given back to Telegram (503, so the step runs again) or marked done rests
on whether the Bot API call could succeed on a retry. aiogram raises the same
``ClientDecodeError`` for a proxy's HTML 502 (never reached the Bot API: retry) and for a 200
whose body it cannot read (the Bot API *accepted* the call: retrying would send the message
again), and a plain ``TelegramAPIError`` for a 429 without ``retry_after`` (flood control:
retry). The session tells them apart by the HTTP status, which only it still knows.

An update answered in the webhook's response makes no call, and aiohttp with the TLS
contexts it and aiogram's session load (the CA bundle, three times) is a sizeable part of a
cold start: `BotApiSession` imports and makes them on its first call.

While handlers run (`Sends`, bound by the engine around them), a 429 is waited out once when
its ``retry_after`` fits in the invocation's time left (as polling bots' retry middlewares do),
and the messages sent are counted: the engine gives an update back after a Bot API failure
only if its handlers sent nothing yet (running them again would send those twice).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from contextvars import ContextVar
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from aiogram.client.session.base import BaseSession
from aiogram.exceptions import (
    AiogramError,
    ClientDecodeError,
    TelegramAPIError,
    TelegramRetryAfter,
)
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType

from lambdagram import budget
from lambdagram.scoped import bound

if TYPE_CHECKING:
    from aiogram import Bot
    from aiogram.client.session.aiohttp import AiohttpSession

DEFAULT_RETRY_AFTER = 5
"""Seconds to wait after a 429 that does not say how long (Telegram's answers always do)."""
CALL_ROOM = 2.0  # seconds a call needs after a 429 is waited out, of the time left


@dataclass(slots=True)
class Sends:
    """What a handler's Bot API calls did: the messages that got through, and the time there
    is to wait out a 429 (a budget's ``left``, read when one comes)."""

    count: int = 0


_sends: ContextVar[Sends | None] = ContextVar("lambdagram_sends", default=None)


def counting(sends: Sends) -> bound[Sends | None]:
    """Calls made while the body runs are counted in ``sends`` (and may wait out a 429)."""
    return bound(_sends, sends)


def _sends_message(method: TelegramMethod[Any]) -> bool:
    name = method.__api_method__
    return name.startswith(("send", "copy", "forward")) and name != "sendChatAction"


class AcceptedButUnreadable(AiogramError):
    """The Bot API answered 2xx (it did what was asked) with a body aiogram cannot read.

    Not retryable: the call went through, so a retry would repeat its effect.
    """

    def __init__(self, method: TelegramMethod[Any], status: int, error: ClientDecodeError):
        super().__init__(
            f"the Bot API accepted {method.__api_method__} ({status}) but its answer cannot "
            f"be read: {error.message}"
        )
        self.method = method
        self.status = status


class BotApiSession(BaseSession):
    """aiogram's aiohttp session (made on the first call) whose errors say whether the
    call may be retried. Its settings (``api``, ``timeout``, the JSON functions) and
    middlewares are this object's, as on any aiogram session."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._http: AiohttpSession | None = None

    def check_response(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        status_code: int,
        content: str,
    ) -> Response[TelegramType]:
        try:
            return super().check_response(bot, method, status_code, content)
        except ClientDecodeError as error:
            if HTTPStatus.OK <= status_code < HTTPStatus.MULTIPLE_CHOICES:
                raise AcceptedButUnreadable(method, status_code, error) from error
            raise  # not the Bot API's answer (a proxy's page): a retry can succeed
        except TelegramRetryAfter:
            raise
        except TelegramAPIError as error:
            if status_code == HTTPStatus.TOO_MANY_REQUESTS:
                raise TelegramRetryAfter(
                    method=method, message=error.message, retry_after=DEFAULT_RETRY_AFTER
                ) from error
            raise

    def _client(self) -> AiohttpSession:
        """The aiohttp session doing the calls, made on first use, with this one's settings."""
        if self._http is None:
            from aiogram.client.session.aiohttp import AiohttpSession

            self._http = AiohttpSession()
            self._http.check_response = self.check_response  # type: ignore[method-assign]
        http = self._http
        http.api, http.timeout = self.api, self.timeout
        http.json_loads, http.json_dumps = self.json_loads, self.json_dumps
        return http

    async def make_request(
        self, bot: Bot, method: TelegramMethod[TelegramType], timeout: int | None = None
    ) -> TelegramType:
        sends = _sends.get()
        try:
            result = await self._client().make_request(bot, method, timeout)
        except TelegramRetryAfter as error:
            left = budget.left()
            if sends is None or (left is not None and error.retry_after + CALL_ROOM > left):
                raise
            await asyncio.sleep(error.retry_after)  # once: a second 429 is the caller's
            result = await self._client().make_request(bot, method, timeout)
        if sends is not None and _sends_message(method):
            sends.count += 1
        return result

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        stream = self._client().stream_content(url, headers, timeout, chunk_size, raise_for_status)
        async for chunk in stream:
            yield chunk

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
