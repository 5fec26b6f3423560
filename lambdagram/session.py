"""The Bot API session: aiogram's aiohttp session, with answers it cannot classify told apart.

Whether an update is given back to Telegram (503, so the step runs again) or marked done rests
on whether the Bot API call could succeed on a retry. aiogram raises the same
``ClientDecodeError`` for a proxy's HTML 502 (never reached the Bot API: retry) and for a 200
whose body it cannot read (the Bot API *accepted* the call: retrying would send the message
again), and a plain ``TelegramAPIError`` for a 429 without ``retry_after`` (flood control:
retry). This session tells them apart by the HTTP status, which only it still knows.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.exceptions import (
    AiogramError,
    ClientDecodeError,
    TelegramAPIError,
    TelegramRetryAfter,
)
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType

if TYPE_CHECKING:
    from aiogram import Bot

DEFAULT_RETRY_AFTER = 5
"""Seconds to wait after a 429 that does not say how long (Telegram's answers always do)."""


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


class BotApiSession(AiohttpSession):
    """aiogram's aiohttp session whose errors say whether the call may be retried."""

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
