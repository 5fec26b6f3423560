"""Settings: one typed, frozen object read from the environment and validated once."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from lambdagram.redaction import install_for

TELEGRAM_API_DEFAULT = "https://api.telegram.org"
FSM_TTL_DEFAULT = 7 * 24 * 3600  # abandoned dialogs expire after a week

_TOKEN = re.compile(r"^\d+:[A-Za-z0-9_-]+$")
_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


class SettingsError(ValueError):
    """The environment does not describe a runnable bot; the message lists every problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"invalid configuration ({len(problems)} problem(s)):\n{lines}")


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the webhook needs to know about its environment."""

    bot_token: str
    webhook_secret: str
    redis_url: str
    telegram_api_url: str = TELEGRAM_API_DEFAULT
    fsm_state_ttl: int | None = FSM_TTL_DEFAULT
    fsm_data_ttl: int | None = FSM_TTL_DEFAULT
    webhook_path: str = "/webhook"
    redis_timeout: float = 2.0
    redis_cluster: bool = False
    lock_wait: float = 10.0
    lock_ttl: float = 8.0
    album_wait: float = 1.5
    max_attempts: int = 10
    chat_waiters: int = 2
    telegram_ip_check: bool = False
    long_work_queue_url: str = ""  # the FIFO queue of long handlers; none: they run inline
    long_work_dead_letters_arn: str = ""  # its DLQ, whose records the worker dead-letters
    timers_group: str = ""  # EventBridge Scheduler's schedule group for timers; none: no timers
    timers_target_arn: str = ""  # what the timers invoke: this function's ARN
    timers_role_arn: str = ""  # the role Scheduler assumes to invoke it
    timers_dlq_arn: str = ""  # where Scheduler puts a firing it could not deliver
    broadcast_rate: int = 29  # broadcast messages a second, all workers together
    routine_log_sample: float = 1.0  # the share of routine updates that write their line

    @property
    def bot_id(self) -> int:
        """The numeric bot id, the part of the token before the colon."""
        return int(self.bot_token.partition(":")[0])

    def __repr__(self) -> str:  # never print the token or the secret
        return (
            f"Settings(bot_id={self.bot_id}, redis_url={_redact_url(self.redis_url)!r}, "
            f"telegram_api_url={self.telegram_api_url!r}, webhook_path={self.webhook_path!r})"
        )

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], *, need_redis: bool = True) -> Settings:
        """Read and validate settings; raise `SettingsError` naming each wrong variable.

        ``need_redis=False`` is for tools that only talk to the Bot API (``bot webhook``).
        """
        problems: list[str] = []
        install_for(
            environ.get("BOT_TOKEN", "").strip(),
            environ.get("WEBHOOK_SECRET", "").strip(),
            environ.get("REDIS_URL", "").strip(),
        )  # blanked out of every log line and answer from now on
        reader = _Reader(environ, problems)
        if not need_redis and not environ.get("REDIS_URL", "").strip():
            environ = {**environ, "REDIS_URL": "redis://unused"}
            reader = _Reader(environ, problems)
        settings = cls(
            bot_token=reader.required(
                "BOT_TOKEN",
                _TOKEN,
                "put the token @BotFather gave you, like 123456789:AAH...",
            ),
            webhook_secret=reader.required(
                "WEBHOOK_SECRET",
                _SECRET,
                "use 1-256 characters of A-Z a-z 0-9 _ -, e.g. the output of "
                "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`",
            ),
            redis_url=reader.url("REDIS_URL", ("redis", "rediss"), None),
            telegram_api_url=reader.url(
                "TELEGRAM_API_URL", ("http", "https"), TELEGRAM_API_DEFAULT
            ).rstrip("/"),
            fsm_state_ttl=reader.ttl("FSM_STATE_TTL"),
            fsm_data_ttl=reader.ttl("FSM_DATA_TTL"),
            webhook_path=reader.path("WEBHOOK_PATH", "/webhook"),
            redis_timeout=reader.seconds("REDIS_TIMEOUT", 2.0),
            redis_cluster=reader.flag("REDIS_CLUSTER"),
            lock_wait=reader.seconds("LOCK_WAIT", 10.0),
            # renewed every third of it: under a second leaves no time for a renewal round trip
            lock_ttl=reader.seconds("LOCK_TTL", 8.0, minimum=1.0),
            album_wait=reader.seconds("ALBUM_WAIT", 1.5),
            max_attempts=reader.count("MAX_ATTEMPTS", 10),
            chat_waiters=reader.count("CHAT_WAITERS", 2),
            telegram_ip_check=reader.flag("TELEGRAM_IP_CHECK"),
            long_work_queue_url=reader.url("LONG_WORK_QUEUE_URL", ("https", "http"), ""),
            long_work_dead_letters_arn=environ.get("LONG_WORK_DEAD_LETTERS_ARN", ""),
            timers_group=reader.optional("TIMERS_GROUP"),
            timers_target_arn=reader.optional("TIMERS_TARGET_ARN"),
            timers_role_arn=reader.optional("TIMERS_ROLE_ARN"),
            timers_dlq_arn=reader.optional("TIMERS_DLQ_ARN"),
            broadcast_rate=reader.count("BROADCAST_RATE", 29),
            routine_log_sample=reader.share("ROUTINE_LOG_SAMPLE", 1.0),
        )
        if settings.timers_group and not (settings.timers_target_arn and settings.timers_role_arn):
            problems.append(
                "TIMERS_GROUP is set but TIMERS_TARGET_ARN or TIMERS_ROLE_ARN is not: timers need "
                "the function's ARN and the role Scheduler invokes it as (serverless.yml sets all "
                "three with timers=on)"
            )
        if problems:
            raise SettingsError(problems)
        return settings


class _Reader:
    """Reads variables, collecting every problem instead of stopping at the first."""

    def __init__(self, environ: Mapping[str, str], problems: list[str]) -> None:
        self.environ = environ
        self.problems = problems

    def _get(self, name: str) -> str | None:
        value = self.environ.get(name, "").strip()
        return value or None

    def required(self, name: str, pattern: re.Pattern[str], how: str) -> str:
        value = self._get(name)
        if value is None:
            self.problems.append(f"{name} is not set: {how}")
            return ""
        if not pattern.match(value):
            self.problems.append(f"{name} has the wrong format: {how}")
        return value

    def url(self, name: str, schemes: tuple[str, ...], default: str | None) -> str:
        value = self._get(name)
        example = (
            f"{schemes[0]}://host:port"
            if schemes[0] != "redis"
            else ("redis://localhost:6379/0, or rediss://user:password@host:6379 for TLS")
        )
        if value is None:
            if default is not None:
                return default
            self.problems.append(f"{name} is not set: give a URL like {example}")
            return ""
        parts = urlsplit(value)
        if parts.scheme not in schemes or not parts.hostname:
            allowed = " or ".join(f"{scheme}://" for scheme in schemes)
            self.problems.append(
                f"{name}={_redact_url(value)!r} is not a {allowed} URL: give a URL like {example}"
            )
        return value

    def ttl(self, name: str) -> int | None:
        value = self._get(name)
        if value is None:
            return FSM_TTL_DEFAULT
        if not value.isdigit():
            self.problems.append(
                f"{name}={value!r} is not a whole number of seconds: "
                f"use e.g. 86400 for a day, or 0 to keep dialogs forever"
            )
            return None
        return int(value) or None

    def _number(self, name: str) -> tuple[str | None, float]:
        """The variable's text (None if unset) and its value (-1 if it is not a number)."""
        value = self._get(name)
        try:
            return value, -1.0 if value is None else float(value)
        except ValueError:
            return value, -1.0

    def seconds(self, name: str, default: float, minimum: float = 0.0) -> float:
        value, seconds = self._number(name)
        if value is None:
            return default
        if seconds <= 0 or not minimum <= seconds <= 60:
            lowest = f"at least {minimum:g}" if minimum else "above 0"
            self.problems.append(
                f"{name}={value!r} must be a number of seconds {lowest}, up to 60"
            )
            return default
        return seconds

    def count(self, name: str, default: int) -> int:
        value = self._get(name)
        if value is None:
            return default
        if not value.isdigit() or not 1 <= int(value) <= 1000:
            self.problems.append(f"{name}={value!r} must be a whole number from 1 to 1000")
            return default
        return int(value)

    def share(self, name: str, default: float) -> float:
        value, share = self._number(name)
        if value is None:
            return default
        if not 0.0 <= share <= 1.0:
            self.problems.append(
                f"{name}={value!r} must be a share from 0 to 1 (0.1: one routine update in ten)"
            )
            return default
        return share

    def optional(self, name: str) -> str:
        return self._get(name) or ""

    def flag(self, name: str) -> bool:
        value = (self._get(name) or "0").lower()
        if value not in {"0", "1", "true", "false", "yes", "no"}:
            self.problems.append(f"{name}={value!r} must be 1 or 0 (true/false)")
        return value in {"1", "true", "yes"}

    def path(self, name: str, default: str) -> str:
        value = self._get(name) or default
        if not value.startswith("/"):
            self.problems.append(f"{name}={value!r} must start with '/', e.g. /webhook")
        return value


def _redact_url(url: str) -> str:
    """Hide the passwords of a URL (user info and ``?password=``) so it can be logged."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        parts = parts._replace(netloc=netloc)
    if "password=" in parts.query:
        query = "&".join(
            f"{name}=***" if name == "password" else f"{name}={value}"
            for name, value in parse_qsl(parts.query, keep_blank_values=True)
        )
        parts = parts._replace(query=query)
    return parts.geturl()
