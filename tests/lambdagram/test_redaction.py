"""Secrets stay inside: every spelling of every secret is blanked, in our lines and in the
libraries' lines, wherever in a logger tree a library logs."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator

import pytest
from aws_lambda_powertools import Logger

from lambdagram.redaction import MASK, RedactingFormatter, guard_library_loggers, install_for

from tests.conftest import TOKEN

TOKEN_SECRET = TOKEN.partition(":")[2]


def json_logger() -> tuple[Logger, io.StringIO]:
    """A Powertools logger formatting as the function's does, into a buffer."""
    out = io.StringIO()
    logger = Logger(
        service=f"redaction-test-{uuid.uuid4().hex}",  # a logger of its own each time
        logger_formatter=RedactingFormatter(use_rfc3339=True),
        logger_handler=logging.StreamHandler(out),
    )
    logging.getLogger(logger.name).propagate = False
    return logger, out


@pytest.fixture
def root_log() -> Iterator[io.StringIO]:
    """What reaches the root logger (a bot's ``basicConfig``, Lambda's runtime handler)."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield out
    root.removeHandler(handler)
    root.setLevel(level)


def test_a_secret_with_quotes_and_backslashes_is_blanked_in_its_json_escaped_spelling() -> None:
    # Given a Redis password that JSON spells differently from the password itself
    password = 'pa"ss\\w0rd-json'
    install_for(TOKEN, "hook-secret-json", "redis://:pa%22ss%5Cw0rd-json@cache:6379/0")
    logger, out = json_logger()

    # When a log line carries it (a JSON line escapes the quote and the backslash)
    logger.warning("cannot connect", extra={"url": f"redis://:{password}@cache:6379/0"})

    # Then neither spelling is in the line, and the line is still JSON
    line = out.getvalue()
    assert json.dumps(password)[1:-1] not in line
    assert "w0rd-json" not in line
    assert json.loads(line)["url"] == f"redis://:{MASK}@cache:6379/0"


def test_a_secret_is_blanked_in_its_url_quoted_spelling() -> None:
    # Given a password with characters a URL must quote, given quoted in REDIS_URL
    quoted = "p%40ss%2Fw%3Ard-url"
    install_for(TOKEN, "hook-secret-url", f"rediss://default:{quoted}@cache:6379/0")
    logger, out = json_logger()

    # When a line echoes the URL as it was configured
    logger.error(f"redis at rediss://default:{quoted}@cache:6379/0 refused the connection")

    # Then the quoted spelling is blanked as the plain one would be
    line = out.getvalue()
    assert quoted not in line
    assert "rediss://default:***@cache" in line


@pytest.mark.parametrize(
    "name", ["aiohttp", "aiohttp.client", "aiogram.event", "aiogram.dispatcher", "redis.asyncio"]
)
def test_the_libraries_lines_are_blanked_whichever_of_their_loggers_writes_them(
    name: str, root_log: io.StringIO
) -> None:
    # Given the engine's guard on the libraries' loggers
    install_for(TOKEN, "hook-secret-lib", "redis://cache:6379/0")
    guard_library_loggers()

    # When one of their loggers writes a URL with the token, and a traceback quoting it
    library = logging.getLogger(name)
    library.warning("GET %s failed", f"https://api.telegram.org/bot{TOKEN}/getMe")
    try:
        raise RuntimeError(f"Cannot connect to https://api.telegram.org/bot{TOKEN}/sendMessage")
    except RuntimeError:
        library.exception("request failed")

    # Then what the root logger's handler prints has neither
    printed = root_log.getvalue()
    assert "failed" in printed
    assert "Cannot connect to" in printed
    assert TOKEN_SECRET not in printed
    assert "/bot***/getMe" in printed
