"""Webhook errors: each kind of bad request with its HTTP status, mapped in one place."""

from __future__ import annotations

from http import HTTPStatus


class WebhookError(Exception):
    """A request the webhook refuses; ``code`` is a stable machine-readable name."""

    status: HTTPStatus = HTTPStatus.BAD_REQUEST
    code = "bad_request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(WebhookError):
    status = HTTPStatus.NOT_FOUND
    code = "not_found"


class MethodNotAllowed(WebhookError):
    status = HTTPStatus.METHOD_NOT_ALLOWED
    code = "method_not_allowed"


class ForbiddenSource(WebhookError):
    """The request does not come from Telegram's networks (``TELEGRAM_IP_CHECK=1``)."""

    status = HTTPStatus.FORBIDDEN
    code = "forbidden_source"


class Unauthorized(WebhookError):
    status = HTTPStatus.UNAUTHORIZED
    code = "wrong_secret"


class PayloadTooLarge(WebhookError):
    status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    code = "payload_too_large"


class BadUpdate(WebhookError):
    status = HTTPStatus.BAD_REQUEST
    code = "bad_update"


class StorageUnavailable(WebhookError):
    """Redis is down or slow: Telegram should retry later; nothing was committed."""

    status = HTTPStatus.SERVICE_UNAVAILABLE
    code = "storage_unavailable"


class UpdateInFlight(WebhookError):
    """The same update is being processed elsewhere; answering 2xx could lose it."""

    status = HTTPStatus.CONFLICT
    code = "update_in_flight"


class ChatLocked(WebhookError):
    """The chat's lock stayed taken for the whole bounded wait."""

    status = HTTPStatus.SERVICE_UNAVAILABLE
    code = "chat_busy"


class ChatCrowdedError(WebhookError):
    """``CHAT_WAITERS`` invocations already wait for this chat: answered at once, not held."""

    status = HTTPStatus.SERVICE_UNAVAILABLE
    code = "chat_crowded"


class QueueUnavailable(WebhookError):
    """The long-work queue did not take an update that must go there (Telegram retries)."""

    status = HTTPStatus.SERVICE_UNAVAILABLE
    code = "queue_unavailable"


class ServiceUnavailable(WebhookError):
    """An AWS service a handler used (Scheduler for a timer, SQS for a broadcast) failed or
    refused while it ran; nothing of the update was kept, Telegram retries."""

    status = HTTPStatus.SERVICE_UNAVAILABLE
    code = "service_unavailable"


class BotApiUnavailable(WebhookError):
    """The Bot API failed or throttled while a handler ran; nothing of the update was kept."""

    status = HTTPStatus.SERVICE_UNAVAILABLE
    code = "bot_api_unavailable"


class BotStartupFailed(WebhookError):
    """The bot's startup hook raised; nothing was claimed, the update comes back later."""

    status = HTTPStatus.INTERNAL_SERVER_ERROR
    code = "bot_startup_failed"


class InternalError(WebhookError):
    """An exception escaped the engine (a bug): answered as JSON, logged, counted."""

    status = HTTPStatus.INTERNAL_SERVER_ERROR
    code = "internal_error"


class OutOfTime(WebhookError):
    """The handlers were still running at the function's deadline; nothing was kept."""

    status = HTTPStatus.SERVICE_UNAVAILABLE
    code = "out_of_time"
