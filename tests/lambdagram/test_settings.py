"""Settings are read from the environment once, and every mistake is named."""

from __future__ import annotations

import pytest

from lambdagram.settings import FSM_TTL_DEFAULT, TELEGRAM_API_DEFAULT, Settings, SettingsError

GOOD = {
    "BOT_TOKEN": "123456789:AAH-abc_def",
    "WEBHOOK_SECRET": "s3cret-_",
    "REDIS_URL": "redis://localhost:6379/0",
}


def problems(environ: dict[str, str]) -> list[str]:
    with pytest.raises(SettingsError) as raised:
        Settings.from_environ(environ)
    return raised.value.problems


def test_the_minimum_is_token_secret_and_redis_url() -> None:
    settings = Settings.from_environ(GOOD)

    assert settings.bot_id == 123456789
    assert settings.telegram_api_url == TELEGRAM_API_DEFAULT
    assert settings.fsm_state_ttl == settings.fsm_data_ttl == FSM_TTL_DEFAULT
    assert settings.webhook_path == "/webhook"


def test_every_missing_variable_is_named_with_how_to_fix_it() -> None:
    found = problems({})

    assert len(found) == 3
    assert found[0].startswith("BOT_TOKEN is not set")
    assert "@BotFather" in found[0]
    assert found[1].startswith("WEBHOOK_SECRET is not set")
    assert "token_urlsafe" in found[1]
    assert found[2].startswith("REDIS_URL is not set")
    assert "rediss://" in found[2]


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("BOT_TOKEN", "not-a-token", "BOT_TOKEN has the wrong format"),
        ("BOT_TOKEN", "123:has space", "BOT_TOKEN has the wrong format"),
        ("WEBHOOK_SECRET", "has spaces in it", "WEBHOOK_SECRET has the wrong format"),
        ("WEBHOOK_SECRET", "x" * 257, "WEBHOOK_SECRET has the wrong format"),
        ("REDIS_URL", "http://localhost:6379", "is not a redis:// or rediss:// URL"),
        ("REDIS_URL", "localhost:6379", "is not a redis:// or rediss:// URL"),
        ("TELEGRAM_API_URL", "ftp://x", "is not a http:// or https:// URL"),
        ("FSM_STATE_TTL", "a week", "FSM_STATE_TTL='a week' is not a whole number"),
        ("FSM_DATA_TTL", "-5", "FSM_DATA_TTL='-5' is not a whole number"),
        ("WEBHOOK_PATH", "webhook", "must start with '/'"),
        ("REDIS_TIMEOUT", "0", "REDIS_TIMEOUT='0' must be a number of seconds"),
    ],
)
def test_a_wrong_value_is_named(name: str, value: str, message: str) -> None:
    found = problems({**GOOD, name: value})

    assert len(found) == 1
    assert message in found[0]


def test_the_error_lists_all_problems_at_once() -> None:
    error = SettingsError(problems({"BOT_TOKEN": "x", "REDIS_URL": "x"}))

    assert "3 problem(s)" in str(error)


def test_optional_values() -> None:
    settings = Settings.from_environ(
        {
            **GOOD,
            "REDIS_URL": "rediss://default:pw@cache.example.com:6379",
            "TELEGRAM_API_URL": "http://127.0.0.1:8081/",
            "FSM_STATE_TTL": "3600",
            "FSM_DATA_TTL": "0",
            "WEBHOOK_PATH": "/tg/hook",
            "REDIS_TIMEOUT": "0.5",
        }
    )

    assert settings.telegram_api_url == "http://127.0.0.1:8081"
    assert settings.fsm_state_ttl == 3600
    assert settings.fsm_data_ttl is None  # 0: keep forever
    assert settings.webhook_path == "/tg/hook"
    assert settings.redis_timeout == 0.5


def test_the_repr_hides_the_token_the_secret_and_the_redis_password() -> None:
    settings = Settings.from_environ({**GOOD, "REDIS_URL": "rediss://user:hunter2@host:6379"})

    shown = repr(settings)

    assert "AAH-abc_def" not in shown
    assert "s3cret" not in shown
    assert "hunter2" not in shown
    assert "rediss://user:***@host:6379" in shown


def test_the_first_invocation_names_the_problem_in_the_log_and_answers_json_500(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from lambdagram.local.events import LambdaContext, lambda_event, message_update

    from tests.conftest import import_handler

    for name in ("BOT_TOKEN", "WEBHOOK_SECRET", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BOT_TOKEN", "123:abc")
    monkeypatch.setenv("WEBHOOK_SECRET", "abc")
    module = import_handler()  # the bot is configured; nothing is read from the env yet
    monkeypatch.setattr(logging.getLogger("lambdagram"), "handlers", [caplog.handler])

    event = lambda_event(message_update("/start"), secret="abc")
    response = module.handler(event, LambdaContext())

    assert response["statusCode"] == 500
    assert '"error": "misconfigured"' in response["body"]
    [line] = caplog.records  # the function's log line names the problem
    assert "REDIS_URL is not set" in line.reason  # type: ignore[attr-defined]
