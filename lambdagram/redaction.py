"""Secrets never leave the process: one place that knows them and blanks them out.

The bot token, the webhook secret and the Redis password reach text in surprising ways: aiohttp
puts the request URL (``/bot<token>/sendMessage``) into its error messages, redis-py the URL
into its connection errors. `install` learns the secrets when the settings are read; every way
out of the process goes through `redact`: each JSON log line (`RedactingFormatter`, so
tracebacks and extra fields too), each response body's ``description``, each dead letter's
reason. The token's numeric bot id stays visible (it is public; the part after the colon is not).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

MASK = "***"
_MIN_LENGTH = 4  # shorter "secrets" would blank out ordinary words


class Redactor:
    """Replaces every known secret (and its JSON- and URL-escaped spellings) with ``***``."""

    def __init__(self) -> None:
        self._secrets: list[str] = []

    def install(self, secrets: Iterable[str | None]) -> None:
        """Remember ``secrets`` (longest first, so no secret is half-replaced)."""
        spellings: set[str] = set(self._secrets)
        for secret in secrets:
            if not secret or len(secret) < _MIN_LENGTH:
                continue
            spellings.update({secret, json.dumps(secret)[1:-1], _quoted(secret)})
        self._secrets = sorted(spellings, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text


redact = Redactor()


def install_for(bot_token: str, webhook_secret: str, redis_url: str) -> None:
    """Learn this function's secrets (called when its settings are read)."""
    token_secret = bot_token.partition(":")[2]  # the bot id before the colon is public
    redact.install([bot_token, token_secret, webhook_secret, *redis_passwords(redis_url)])


def redis_passwords(url: str) -> list[str]:
    """Every password a Redis URL carries: in its user info or as ``?password=``."""
    parts = urlsplit(url)
    found = [unquote(parts.password)] if parts.password else []
    found += [value for name, value in parse_qsl(parts.query) if name == "password" and value]
    return found


COMPACT_DROPS = (
    "location",
    "function_name",
    "function_memory_size",
    "function_arn",
    "function_request_id",
    "taskName",
    "sampling_rate",
    "xray_trace_id",
    "service",
)
"""What lines below WARNING leave out: the invocation context, the same on every line (the
log group names the function; warnings and errors keep all of it)."""


class RedactingFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON log line, with every known secret blanked out of the whole line;
    compact below WARNING unless the logger itself runs at DEBUG (asked for, or sampled)."""

    def format(self, record: logging.LogRecord) -> str:
        self._compact = record.levelno < logging.WARNING and not _debugging(record)
        return redact(super().format(record))

    def serialize(self, log: Any) -> str:  # Powertools' LogRecord: a dict
        if getattr(self, "_compact", False) and isinstance(log, dict):
            for key in COMPACT_DROPS:
                log.pop(key, None)
            if log.get("cold_start") is False:
                del log["cold_start"]
        return super().serialize(log)


def _debugging(record: logging.LogRecord) -> bool:
    return logging.getLogger(record.name).getEffectiveLevel() <= logging.DEBUG


LIBRARIES = ("aiogram", "aiohttp", "redis")
"""The libraries whose log lines can quote a secret (a URL with the token, a Redis URL)."""


class RedactingFilter(logging.Filter):
    """For other libraries' records: the message (and traceback) with secrets blanked."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def guard_library_loggers(names: Iterable[str] = LIBRARIES) -> None:
    """Blank secrets out of what those libraries log, wherever their lines are printed.

    A logger's filters see only the records logged on that very logger, not its children's
    (``aiohttp.client``, ``aiogram.event``), so the records are blanked where they are made:
    a log record factory, kept once, that passes each library record through the filter.
    """
    prefixes = tuple(names)
    make = logging.getLogRecordFactory()
    if isinstance(make, _RedactingFactory):
        make.prefixes = tuple(sorted({*make.prefixes, *prefixes}))
        return
    logging.setLogRecordFactory(_RedactingFactory(make, prefixes))


class _RedactingFactory:
    """Makes records as ``make`` does; those of the ``prefixes`` loggers come out blanked."""

    def __init__(self, make: Callable[..., logging.LogRecord], prefixes: tuple[str, ...]):
        self.make = make
        self.prefixes = prefixes
        self.blank = RedactingFilter()

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.make(*args, **kwargs)
        name = record.name
        if any(name == p or name.startswith(p + ".") for p in self.prefixes):
            self.blank.filter(record)
        return record


def _quoted(secret: str) -> str:
    from urllib.parse import quote

    return quote(secret, safe="")
