"""Logs and metrics for the whole package (Powertools): made once, used everywhere.

``logger`` writes JSON lines; the Lambda edge adds the invocation context, and each
update's id becomes the correlation id. ``metrics`` are CloudWatch EMF lines on stdout,
flushed after every invocation by `instrument`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from lambdagram.redaction import RedactingFormatter, guard_library_loggers

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "lambdagram")
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "lambdagram")

logger = Logger(service=SERVICE, logger_formatter=RedactingFormatter())
guard_library_loggers()
# Our lines go to our own handler only: a bot calling `logging.basicConfig()` after this
# (common at the top of bot files) must not print each of them a second time.
logging.getLogger(logger.name).propagate = False
# mangum's INFO line per request ("POST /webhook 200") would ride on a bot's basicConfig(INFO)
# and double the log bill; the engine's own line already says it.
logging.getLogger("mangum").setLevel(logging.WARNING)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)


class Metric(StrEnum):
    """Every metric the webhook emits; each request adds at least one."""

    UPDATES_HANDLED = "UpdatesHandled"
    DUPLICATES = "DuplicateUpdates"
    IN_FLIGHT = "UpdatesInFlight"
    DEAD_LETTERS = "DeadLetters"
    HANDLER_ERRORS = "HandlerErrors"
    REDIS_ERRORS = "RedisErrors"
    BOT_API_ERRORS = "BotApiErrors"
    LOCK_TIMEOUTS = "LockTimeouts"
    REFUSED = "RequestsRefused"
    STARTUP_ERRORS = "StartupErrors"
    ALBUM_PARTS = "AlbumParts"
    HANDLER_TIMEOUTS = "HandlerTimeouts"
    EVICTING_REDIS = "EvictingRedis"
    INTERNAL_ERRORS = "InternalErrors"


def count(metric: Metric, value: float = 1) -> None:
    """Add ``value`` to a count metric of this invocation."""
    metrics.add_metric(name=metric.value, unit=MetricUnit.Count, value=value)


def milliseconds(name: str, value: float) -> None:
    """Record a duration metric of this invocation."""
    metrics.add_metric(name=name, unit=MetricUnit.Milliseconds, value=value)


def instrument[F: Callable[..., Any]](handler: F) -> F:
    """Wrap the Lambda handler: Lambda context in logs, EMF metrics flushed per call."""
    with_logs = logger.inject_lambda_context(clear_state=True)(handler)
    return metrics.log_metrics(capture_cold_start_metric=True)(with_logs)  # type: ignore[no-any-return]
