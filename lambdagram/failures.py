"""What a failed outside call means: one classification for every path that makes one.

A handler's Bot API call on the webhook, a job's on a timer, a broadcast's send on the worker:
each must decide whether to try again, give up on this one thing, or stop. They decide from
the same `Verdict`, so a failure means the same on every path.
"""

from __future__ import annotations

import enum

from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramEntityTooLarge,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)


class Verdict(enum.Enum):
    """What a failed call did, as far as anyone can know."""

    RETRY = "retry"
    """Refused for now (a 5xx, a proxy's page, flood control): nothing was done, and a later
    try can succeed."""
    REFUSED = "refused"
    """Refused for good (a 4xx about this call: a blocked chat, a bad parameter, too large):
    trying again does the same."""
    UNANSWERED = "unanswered"
    """No answer (a network error, a timeout): the call may or may not have been carried out."""
    BOT_WIDE = "bot_wide"
    """Refused for every call of the bot (401: the token was revoked; 404: no such API or
    method, a wrong ``TELEGRAM_API_URL``): nothing was done, and nothing will be until an
    operator mends it."""


class ServiceError(RuntimeError):
    """An AWS service the engine calls for a handler (SQS for long work and broadcasts,
    EventBridge Scheduler for timers) failed, refused or could not be reached. Whatever the
    cause (throttling, a 5xx, a missing permission), the step that made the call is given back
    whole, never dropped: a retry, or its dead letter once mended, runs it again."""


class UpdateGivenUp(Exception):
    """What the bot's error handlers (``@router.errors()``) get for an update the engine
    gave up on (kept as a dead letter): ``event.update`` is the update, the message why.
    The bot may tell the user; the update is not run again unless an operator replays it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def of_bot_api(error: BaseException) -> Verdict | None:
    """The verdict on an exception a Bot API call raised; None for one that is not the Bot
    API's (a bug in the caller's code)."""
    if isinstance(error, TelegramRetryAfter | TelegramServerError | ClientDecodeError):
        return Verdict.RETRY
    if isinstance(error, TelegramEntityTooLarge):  # aiogram files it under network errors
        return Verdict.REFUSED
    if isinstance(error, TelegramNetworkError):
        return Verdict.UNANSWERED
    if isinstance(error, TelegramUnauthorizedError | TelegramNotFound):
        return Verdict.BOT_WIDE
    if isinstance(error, TelegramAPIError):
        return Verdict.REFUSED
    return None


def may_come_right(error: BaseException) -> bool:
    """Whether giving the whole step back (its update or job run again later) can help: the
    call was not refused for good. A step that gets an unanswered call back runs again: the
    webhook and a job are at-least-once for the calls their handlers make."""
    return of_bot_api(error) in {Verdict.RETRY, Verdict.UNANSWERED}
