"""The hand-over: the bot goes in, a Lambda handler comes out.

``handler.py`` is the composition root::

    from lambdagram import Lambdagram

    from bot import DEFAULTS, configure

    app = Lambdagram(configure, default=DEFAULTS)
    handler = app.lambda_handler

Making a `Lambdagram` configures the bot (once per process, at import: a broken bot stops
the cold start) and reads nothing from the environment, so tools can import ``handler`` to
learn about the bot. The first invocation reads the settings (and the SSM parameters they
name), then every invocation goes through mangum into the `WebhookApp`. Whatever happens,
the answer is JSON: a configuration problem or an exception that escaped the engine is a
500 with a log line and a metric, never the runtime's or mangum's plain text.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import os
from collections.abc import Callable, Mapping
from typing import Any

from aiogram import Dispatcher
from aiogram.client.default import DefaultBotProperties
from mangum import Mangum
from mangum.handlers.api_gateway import HTTPGateway
from mangum.types import LambdaConfig, LambdaContext, LambdaEvent, Scope

from lambdagram import snapstart
from lambdagram.app import SECRET_HEADER, WebhookApp, refusal
from lambdagram.blueprint import Blueprint, Configure
from lambdagram.deferred import INTERNAL_KEY
from lambdagram.errors import BadUpdate, Unauthorized, WebhookError
from lambdagram.observability import Metric, count, instrument, logger, metrics
from lambdagram.redaction import redact
from lambdagram.runtime import ensure_event_loop
from lambdagram.settings import Settings, SettingsError
from lambdagram.ssm import SECRETS, ParameterError, resolve_parameters

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


class Lambdagram:
    """An aiogram bot served as a Telegram webhook on AWS Lambda."""

    def __init__(
        self,
        setup: Configure | Dispatcher,
        *,
        default: DefaultBotProperties | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        """``setup``: the bot's ``configure(dp)`` or its own Dispatcher; ``default``: the
        ``DefaultBotProperties`` its ``Bot(...)`` gets under polling; ``environ``: where the
        settings come from (``os.environ`` when the first invocation arrives)."""
        self.blueprint = Blueprint(setup)
        self.default = default
        self._environ = environ
        self._webhook: WebhookApp | None = None
        self._handler: LambdaHandler | None = None
        self._internal: Callable[[Any, Any], dict[str, Any]] = self._run_internal
        self._work: LambdaHandler = self._run_worker
        snapstart.register(self)

    @classmethod
    def from_polling(
        cls,
        path: str | os.PathLike[str],
        main: str = "main",
        *,
        environ: Mapping[str, str] | None = None,
    ) -> Lambdagram:
        """A polling bot's entry file handed over as it is: its ``main()`` runs up to
        ``start_polling`` (`lambdagram.polling_main`), and its Dispatcher, Bot defaults and
        ``start_polling`` data become the bot's. Its config can read ``BOT_TOKEN`` and the
        other secrets from the environment: their SSM parameters are read first."""
        from lambdagram.polling_main import capture

        source = os.environ if environ is None else environ
        if any(source.get(f"{name}_PARAM") and not source.get(name) for name in SECRETS):
            resolved = resolve_parameters(source)
            if environ is None:
                os.environ.update({k: v for k, v in resolved.items() if k in SECRETS})
        captured = capture(path, main)
        captured.dispatcher.workflow_data.update(captured.data)
        return cls(captured.dispatcher, default=captured.default, environ=environ)

    def lambda_handler(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        """The Lambda entry point (``handler.handler``)."""
        try:
            handler = self._handler or self._start()
            if INTERNAL_KEY in event:
                return self._internal(event[INTERNAL_KEY], context)
            if _is_sqs_batch(event):
                return self._work(event, context)
        except (SettingsError, ParameterError) as error:
            logger.error("the function is misconfigured", extra={"reason": str(error)})
            count(Metric.INTERNAL_ERRORS)
            count(Metric.SERVER_ERRORS)
            metrics.flush_metrics()
            return _json_response(500, "misconfigured", "see the function's log")
        return handler(event, context)

    def _undecodable(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """The answer to a body mangum cannot decode (bad base64), secret checked first."""
        body = event.get("body")
        if not event.get("isBase64Encoded") or not isinstance(body, str):
            return None
        try:
            base64.b64decode(body, validate=True)
        except binascii.Error:
            pass
        else:
            return None
        count(Metric.REFUSED)
        headers = {str(k).lower(): v for k, v in (event.get("headers") or {}).items()}
        given = headers.get(SECRET_HEADER.decode())
        error: WebhookError
        if not self.webhook().secret_matches(str(given).encode() if given else None):
            error = Unauthorized("missing or wrong X-Telegram-Bot-Api-Secret-Token header")
        else:
            error = BadUpdate("body is marked base64 but is not valid base64")
        return _response(int(error.status), refusal(error))

    def webhook(self) -> WebhookApp:
        """The ASGI app (settings read now if not yet)."""
        if self._webhook is None:
            self._start()
        assert self._webhook is not None
        return self._webhook

    def _start(self) -> LambdaHandler:
        environ = os.environ if self._environ is None else self._environ
        settings = Settings.from_environ(resolve_parameters(environ))
        ensure_event_loop()  # one loop for the life of the process; mangum runs every call on it
        self._webhook = WebhookApp(settings, self.blueprint, self.default)
        mangum = Mangum(self._webhook, lifespan="off", custom_handlers=[FunctionUrlEvent])
        self._handler = instrument(_guarded(mangum, self._undecodable))
        self._internal = instrument(self._run_internal)
        self._work = instrument(self._run_worker)
        return self._handler

    def _run_internal(self, payload: Any, context: Any) -> dict[str, Any]:
        """An internal event; what leaves here carries no secret (see `DeferredWorkFailed`)."""
        webhook = self.webhook()
        try:
            return ensure_event_loop().run_until_complete(webhook.internal(payload, context))
        except WebhookError as error:  # logged already; Lambda retries the invocation
            failure = f"{error.code}: {redact(error.message)}"
        except Exception as error:
            logger.exception("internal event failed", extra={"alert": "internal"})
            count(Metric.INTERNAL_ERRORS)
            failure = f"{type(error).__name__}: {redact(str(error))}"
        raise DeferredWorkFailed(failure)  # outside the except: no exception chained to it

    def _run_worker(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        """An SQS batch of the long-work queue (`lambdagram.worker`): the partial batch
        response. What escapes the engine fails the whole batch, to be delivered again."""
        return ensure_event_loop().run_until_complete(self.webhook().work(event, context))

    def forget_clients(self) -> None:
        """Drop the open clients (SnapStart restore); the next request makes new ones."""
        if self._webhook is not None:
            self._webhook.forget_clients()

    async def close(self) -> None:
        """Close the clients (local tools and tests; Lambda just freezes the process)."""
        if self._webhook is not None:
            await self._webhook.close()

    def runtime_if_made(self) -> Any:
        """The process's clients if a request has made them (introspection for tests)."""
        return None if self._webhook is None else self._webhook.runtime_if_made()


class DeferredWorkFailed(RuntimeError):
    """An internal event failed; Lambda retries it, then sends it to the on-failure target.

    Lambda writes an exception that leaves the handler to CloudWatch and to the asynchronous
    failure record itself, past the log redactor: so only this one leaves, its message
    redacted, with no cause chained (aiohttp's errors quote the URL with the bot's token).
    """


class FunctionUrlEvent(HTTPGateway):
    """mangum's handler of payload format 2.0 events (Function URLs, HTTP APIs), its ASGI
    scope built once per event: mangum's own builds it again to shape the response."""

    @classmethod
    def infer(cls, event: LambdaEvent, context: LambdaContext, config: LambdaConfig) -> bool:
        return event.get("version") == "2.0" and "requestContext" in event

    @functools.cached_property
    def scope(self) -> Scope:
        return super().scope


def _is_sqs_batch(event: Any) -> bool:
    """Whether ``event`` is an SQS batch (the long-work queue's event source mapping)."""
    records = event.get("Records") if isinstance(event, dict) else None
    first = records[0] if isinstance(records, list) and records else None
    return isinstance(first, dict) and first.get("eventSource") == "aws:sqs"


def _guarded(
    handler: LambdaHandler, precheck: Callable[[dict[str, Any]], dict[str, Any] | None]
) -> LambdaHandler:
    """``handler`` after ``precheck`` (an answer, or None to go on), answering JSON 500 for
    anything that escapes it (mangum included)."""

    def guarded(event: dict[str, Any], context: Any) -> dict[str, Any]:
        try:
            return precheck(event) or handler(event, context)
        except Exception as error:
            logger.exception("unexpected error at the Lambda edge", extra={"alert": "internal"})
            count(Metric.INTERNAL_ERRORS)
            count(Metric.SERVER_ERRORS)
            return _json_response(
                500, "internal_error", f"internal error ({type(error).__name__})"
            )

    return guarded


def _json_response(status: int, code: str, description: str) -> dict[str, Any]:
    return _response(status, {"ok": False, "error": code, "description": description})


def _response(status: int, body: dict[str, Any]) -> dict[str, Any]:
    """A Lambda proxy response with a JSON body (answered without mangum)."""
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }
