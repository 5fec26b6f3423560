"""Logs and metrics for the whole package (Powertools): made once, used everywhere.

``logger`` writes JSON lines; the Lambda edge adds the invocation context, and each
update's id becomes the correlation id. Lines below WARNING are compact (what finds an
update: its id, type, chat, outcome, duration; not the invocation context every line
repeats) unless the logger runs at DEBUG, sampled (``POWERTOOLS_LOGGER_SAMPLE_RATE``) or
asked for; warnings and errors carry everything. ``metrics`` are CloudWatch EMF lines on
stdout, flushed by `instrument` after an invocation that counted something: a routine
update adds no metric (Lambda's own Invocations and Duration count it), so it costs one
log line and no EMF line.
"""

from __future__ import annotations

import logging
import os
import zlib
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from lambdagram.redaction import RedactingFormatter, guard_library_loggers

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "lambdagram")
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "lambdagram")

# RFC 3339 timestamps: Lambda's JSON log format reads "level" and "timestamp" from each line
# (a line whose timestamp it cannot parse is filed as INFO, whatever its level).
logger = Logger(service=SERVICE, logger_formatter=RedactingFormatter(use_rfc3339=True))
guard_library_loggers()
# Our lines go to our own handler only: a bot calling `logging.basicConfig()` after this
# (common at the top of bot files) must not print each of them a second time.
logging.getLogger(logger.name).propagate = False
# mangum's INFO line per request ("POST /webhook 200") would ride on a bot's basicConfig(INFO)
# and double the log bill; the engine's own line already says it.
logging.getLogger("mangum").setLevel(logging.WARNING)
# Likewise aiogram's "Update id=... is handled" INFO line: under Lambda's JSON log format the
# runtime logs the root logger at INFO, which would make it a second line per update.
logging.getLogger("aiogram.event").setLevel(logging.WARNING)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)


class Metric(StrEnum):
    """Every metric the webhook emits: each counts what an alarm or the dashboard needs."""

    COLD_STARTS = "ColdStarts"
    SERVER_ERRORS = "ServerErrors"  # any 5xx answer: Telegram retries, the bot is not answering
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
    DEFER_REFUSED = "DeferRefused"  # Lambda refused an asynchronous invocation of itself
    BACKGROUND_CANCELLED = "BackgroundTasksCancelled"  # a handler's task outlived the budget
    QUEUED = "UpdatesQueued"  # put on the long-work queue by the webhook
    QUEUE_ERRORS = "QueueErrors"  # the long-work queue refused or could not be reached
    WORKER_RETRIES = "WorkerRetries"  # a queued update handed back to the queue for later
    BROADCAST_SENT = "BroadcastMessagesSent"  # a broadcast's recipient got the message
    BROADCAST_FAILED = "BroadcastMessagesFailed"  # refused by Telegram, or unconfirmed
    SERVICE_ERRORS = "ServiceErrors"  # SQS or Scheduler failed a handler's call: given back


def count(metric: Metric, value: float = 1) -> None:
    """Add ``value`` to a count metric of this invocation."""
    metrics.add_metric(name=metric.value, unit=MetricUnit.Count, value=value)


def note_on_metrics_line(message: str, fields: dict[str, Any], level: str = "WARNING") -> None:
    """Say ``message`` on this invocation's EMF line (Powertools' metadata: top-level keys
    beside the metrics), not on a log line of its own; a plain log line if no metric was
    counted (then there is no EMF line)."""
    if not metrics.metric_set:
        log = logger.warning if level == "WARNING" else logger.info
        log(message, extra=fields)
        return
    for key, value in {"level": level, "message": message, **fields}.items():
        metrics.add_metadata(key=key, value=value)


def milliseconds(name: str, value: float) -> None:
    """Record a duration metric of this invocation."""
    metrics.add_metric(name=name, unit=MetricUnit.Milliseconds, value=value)


def instrument[F: Callable[..., Any]](handler: F) -> F:
    """Wrap the Lambda handler: Lambda context in logs, EMF metrics flushed if any."""
    with_logs = logger.inject_lambda_context(clear_state=True)(handler)
    cold = [True]

    def instrumented(event: Any, context: Any) -> Any:
        if cold:
            cold.clear()
            count(Metric.COLD_STARTS)
        try:
            return with_logs(event, context)
        finally:
            if metrics.metric_set:
                metrics.flush_metrics()
            else:
                metrics.clear_metrics()  # dimensions and metadata, for the next invocation

    return instrumented  # type: ignore[return-value]


ROUTINE = frozenset({"replied", "done", "queued"})  # outcomes no one needs each line of


def sampled(update_id: int, share: float) -> bool:
    """Whether a routine update's line is written, at ``share`` of them (``ROUTINE_LOG_SAMPLE``).

    Decided by the update id's hash, so a retried update is logged or not alike and a bench
    counts the same lines every run; the lines written carry ``weight`` (1 / share) so a Logs
    Insights ``sum(weight)`` estimates every update's.
    """
    if share >= 1.0:
        return True
    return zlib.crc32(str(update_id).encode()) % 10_000 < share * 10_000


def outcome(body: dict[str, Any]) -> str:
    """One word for the log: what became of the update."""
    if "method" in body:
        return "replied"
    for kind in ("duplicate", "dead_letter", "queued"):
        if body.get(kind):
            return kind
    return "handler_error" if body.get("handled") is False else "done"
