"""The ASGI webhook app: ``POST <WEBHOOK_PATH>`` takes one Telegram Update.

A plain ASGI callable rather than a framework: one route, a fixed order of checks
(path, method, secret, size, JSON, Update), and nothing imported that the cold start
does not need.
"""

from __future__ import annotations

import asyncio
import gc
import ipaddress
import secrets
import time
from collections.abc import Coroutine
from typing import Any

from aiogram.client.default import DefaultBotProperties
from aiogram.webhook.security import DEFAULT_TELEGRAM_NETWORKS

from lambdagram import budget
from lambdagram.album_updates import close_album
from lambdagram.asgi import Receive, Scope, Send, header, read_body, send_json
from lambdagram.blueprint import Blueprint
from lambdagram.errors import (
    ForbiddenSource,
    InternalError,
    MethodNotAllowed,
    NotFound,
    Unauthorized,
    WebhookError,
)
from lambdagram.observability import (
    ROUTINE,
    Metric,
    count,
    logger,
    note_on_metrics_line,
    outcome,
    sampled,
)
from lambdagram.parsing import Unprocessable, parse_body
from lambdagram.redaction import redact
from lambdagram.runtime import BOT_API_TIMEOUT, Runtime
from lambdagram.settings import Settings
from lambdagram.updates import process_update

MAX_BODY = 1024 * 1024  # Telegram's updates are far smaller; anything bigger is not Telegram
SECRET_HEADER = b"x-telegram-bot-api-secret-token"


class WebhookApp:
    """The webhook as an ASGI application; clients are made on the first request."""

    def __init__(
        self,
        settings: Settings,
        blueprint: Blueprint,
        default: DefaultBotProperties | None = None,
    ) -> None:
        self.settings = settings
        self.blueprint = blueprint
        self.default = default
        self._secret = settings.webhook_secret.encode()
        self._runtime: Runtime | None = None
        self._updates = 0
        if blueprint.long_handlers and not settings.long_work_queue_url:
            from lambdagram.long_work import warn_inline

            warn_inline(blueprint.long_handlers)
        gc.freeze()  # the imports are here for good: keep them out of the collector's scans

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        try:
            body = await self.handle(scope, receive)
            await send_json(send, 200, body)
        except WebhookError as error:
            await self._refuse(send, error)
        except Exception as error:  # a bug: still a JSON answer, a log line and a metric
            logger.exception("unexpected error", extra={"alert": "internal"})
            count(Metric.INTERNAL_ERRORS)
            await self._refuse(send, InternalError(f"internal error ({type(error).__name__})"))

    @staticmethod
    async def _refuse(send: Send, error: WebhookError) -> None:
        """Answer with ``error``'s status and a JSON body, and log it."""
        await send_json(send, int(error.status), refusal(error))

    def secret_matches(self, given: bytes | None) -> bool:
        """Whether ``given`` is the webhook secret (compared in constant time)."""
        return secrets.compare_digest(given or b"", self._secret)

    async def handle(self, scope: Scope, receive: Receive) -> dict[str, Any]:
        """Check the request, process the update; the response body, or a `WebhookError`."""
        try:
            raw = await self.admit(scope, receive)
        except WebhookError:
            count(Metric.REFUSED)
            raise
        logger.set_correlation_id(str(raw["update_id"]))
        logger.append_keys(update_id=raw["update_id"])
        max_wait = self._start_budget(scope.get("aws.context"))
        started = time.perf_counter()
        try:
            body = await process_update(self.runtime(), raw, max_wait=max_wait)
            result, share = outcome(body), self.settings.routine_log_sample
            fields = {
                "outcome": result,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            }
            if result not in ROUTINE or share >= 1.0:
                logger.info("update processed", extra=fields)
            elif sampled(int(raw.get("update_id") or 0), share):
                logger.info("update processed", extra={**fields, "weight": round(1 / share, 2)})
            return body
        finally:
            self._updates += 1
            if self._updates in SETTLE_AFTER:
                settle_heap()

    async def admit(self, scope: Scope, receive: Receive) -> dict[str, Any]:
        """The raw update if the request is one Telegram could have sent, else the reason.

        Nothing here touches Redis; the secret is checked before the body is read.
        """
        if scope.get("path") != self.settings.webhook_path:
            raise NotFound("no such path")  # the webhook's own may be a secret: never said
        if scope.get("method") != "POST":
            raise MethodNotAllowed(f"{scope.get('method')} is not allowed; Telegram sends POST")
        if self.settings.telegram_ip_check and not from_telegram(scope):
            client = scope.get("client") or ("unknown", 0)
            raise ForbiddenSource(f"{client[0]} is not in Telegram's networks")
        if not self.secret_matches(header(scope, SECRET_HEADER)):
            raise Unauthorized("missing or wrong X-Telegram-Bot-Api-Secret-Token header")
        return parse_body(await read_body(scope, receive, MAX_BODY))

    async def internal(self, payload: Any, context: Any) -> dict[str, Any]:
        """Run an internal event (an asynchronous self-invocation, `lambdagram.deferred`).

        A `WebhookError` propagates: Lambda then retries the invocation (twice). An event
        that is not one of ours (an unknown kind, an album without a media group) is refused
        with a log line and not retried: no attempt could go better.
        """
        job = payload.get("job") if isinstance(payload, dict) else None
        if isinstance(job, dict):
            return await self._job(job, context)
        asked = payload.get("broadcast") if isinstance(payload, dict) else None
        if isinstance(asked, dict):
            return await self._broadcast(asked)
        raw = payload.get("album") if isinstance(payload, dict) else None
        if not isinstance(raw, dict):
            kinds = sorted(map(str, payload)) if isinstance(payload, dict) else type(payload)
            return _refuse_internal(f"unknown internal event {kinds}: not one the engine makes")
        logger.set_correlation_id(str(raw.get("update_id")))
        return await _internal_kind(
            "album",
            close_album(self.runtime(), raw, max_wait=self._start_budget(context)),
            failed="album not closed; Lambda retries",
        )

    async def _job(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        """A timer fired (`lambdagram.job_runs`)."""
        from lambdagram.job_runs import run_job  # only bots with timers get here

        logger.set_correlation_id(f"{event.get('timer')}@{event.get('at')}")
        return await _internal_kind(
            "job",
            run_job(self.runtime(), event, max_wait=self._start_budget(context)),
            failed="job not run; it is retried",
        )

    async def _broadcast(self, asked: dict[str, Any]) -> dict[str, Any]:
        """An operator's broadcast request (``make broadcast``: a direct, synchronous invoke,
        so Redis inside the VPC is reached from where it is); its answer lines."""
        from lambdagram.broadcasts import BroadcastError, BroadcastsUnavailable, carry_out

        try:
            lines = await carry_out(self.runtime(), asked)
        except (BroadcastError, BroadcastsUnavailable) as error:
            return _refuse_internal(f"the broadcast request cannot be carried out: {error}")
        return {"ok": True, "lines": lines}

    async def work(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        """Run an SQS batch of the long-work queue (`lambdagram.worker`)."""
        from lambdagram.worker import run_batch  # only the worker function imports it

        return await run_batch(self.runtime(), event, context)

    def _start_budget(self, context: Any) -> float:
        """Start this invocation's time budget (`lambdagram.budget`); the chat-lock wait it
        allows: ``LOCK_WAIT``, but never so long that a Bot API call after it would run past
        the function's timeout."""
        budget.start(context)
        return budget.lock_wait(self.settings.lock_wait, after=BOT_API_TIMEOUT + 1.0)

    def runtime(self) -> Runtime:
        """The process's clients, made on first use and remade if the event loop changed."""
        loop = asyncio.get_running_loop()
        if self._runtime is None or self._runtime.loop is not loop:
            self._runtime = Runtime.create(self.settings, self.blueprint, self.default)
        return self._runtime

    def forget_clients(self) -> None:
        """Drop the clients without closing them (their sockets died with a SnapStart
        snapshot); the next request makes new ones."""
        self._runtime = None

    def runtime_if_made(self) -> Runtime | None:
        """The process's clients if a request has made them (introspection for tests)."""
        return self._runtime

    async def close(self) -> None:
        """Close the clients (local tools and tests)."""
        if self._runtime is not None:
            await self._runtime.close()
            self._runtime = None


async def _lifespan(receive: Receive, send: Send) -> None:
    """Acknowledge ASGI lifespan events (local servers; mangum runs with lifespan off)."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


SETTLE_AFTER = frozenset({1, 8, 64, 512})


def refusal(error: WebhookError) -> dict[str, Any]:
    """Log a refused request and return the JSON body to answer it with.

    A 5xx (our failure: Telegram retries) is an ERROR line with the whole context. A 4xx
    (a stranger's request, a wrong secret, a bad body, an update in flight) is noted on the
    invocation's one EMF line instead: a flood of refusals costs one compact line each.
    """
    description = redact(error.message)  # error texts can quote URLs with the token
    fields = {"status": int(error.status), "error": error.code, "reason": description}
    if error.status >= 500:
        count(Metric.SERVER_ERRORS)
        logger.error("webhook request refused", extra=fields)
    else:
        note_on_metrics_line("webhook request refused", fields)
    return {"ok": False, "error": error.code, "description": description}


async def _internal_kind(
    kind: str, running: Coroutine[Any, Any, dict[str, Any]], *, failed: str
) -> dict[str, Any]:
    """One internal event of ``kind`` run: refused (not retried) if it cannot be processed, a
    `WebhookError` logged and raised (Lambda or Scheduler retries), else logged done."""
    try:
        body = await running
    except Unprocessable as error:
        return _refuse_internal(f"the {kind} event cannot be processed: {error}")
    except WebhookError as error:
        logger.error(failed, extra={"reason": error.message})
        raise
    logger.info(f"{kind} processed", extra={"outcome": outcome(body)})
    return body


def _refuse_internal(reason: str) -> dict[str, Any]:
    """A direct invocation that is not an internal event of ours: logged, not retried."""
    count(Metric.INTERNAL_ERRORS)
    logger.error("internal event refused", extra={"reason": redact(reason), "alert": "internal"})
    return {"ok": False, "error": "bad_internal_event", "description": reason}


def from_telegram(scope: Scope) -> bool:
    """Whether the request's source address is in Telegram's published networks (the ones
    aiogram's ``IPFilter`` knows). The Function URL and API Gateway events carry it."""
    client = scope.get("client")
    try:
        address = ipaddress.ip_address(client[0]) if client else None
    except ValueError:
        return False
    return address is not None and any(address in net for net in DEFAULT_TELEGRAM_NETWORKS)


def settle_heap() -> None:
    """Move what is alive now out of the garbage collector's sight (``gc.freeze``).

    Early updates build aiogram's models and the process's clients: objects that live as
    long as the process. Left in the collector's oldest generation, each full collection
    walks them all (~50-100 ms, a p99 spike every few hundred updates). Frozen after the
    1st, 8th, 64th and 512th update (young garbage collected first), they no longer are.
    """
    gc.collect(1)
    gc.freeze()
