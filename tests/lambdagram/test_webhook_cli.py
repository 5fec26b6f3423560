"""``python -m lambdagram webhook``: exactly what it asks Telegram, and clear errors."""

from __future__ import annotations

import json

import pytest

from lambdagram.cli import main
from lambdagram.local.fake_telegram import FakeTelegram
from lambdagram.local.ports import free_port

from tests.conftest import FORM_BOT, SECRET, TOKEN

FUNCTION_URL = "https://abcdefghijklmnop.lambda-url.eu-west-1.on.aws/"


@pytest.fixture
def env(telegram: FakeTelegram, monkeypatch: pytest.MonkeyPatch) -> FakeTelegram:
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv("WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("TELEGRAM_API_URL", telegram.url)
    monkeypatch.delenv("REDIS_URL", raising=False)  # not needed to talk to Telegram
    monkeypatch.setenv("LAMBDAGRAM_APP", f"{FORM_BOT}:app")  # the engine's test bot, not bot/
    return telegram


def test_set_registers_the_url_secret_and_the_update_kinds_the_routers_use(
    env: FakeTelegram, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["webhook", "set", FUNCTION_URL]) == 0

    [call] = env.calls_to("setWebhook")
    assert call.token == TOKEN
    assert call.params["url"] == FUNCTION_URL + "webhook"
    assert call.params["secret_token"] == SECRET
    assert json.loads(call.params["allowed_updates"]) == ["message"]
    assert call.params["max_connections"] == "40"
    assert "drop_pending_updates" not in call.params or call.params["drop_pending_updates"] in {
        "false",
        "False",
    }
    shown = capsys.readouterr().out
    assert "Webhook set: https://abcdefghijklmnop.lambda-url.eu-west-1.on.aws/webhook" in shown
    assert "pending updates: 0" in shown


def test_set_passes_the_options(env: FakeTelegram) -> None:
    args = ["webhook", "set", FUNCTION_URL + "tg", "--max-connections", "5"]
    assert main([*args, "--drop-pending-updates"]) == 0

    [call] = env.calls_to("setWebhook")
    assert call.params["url"] == FUNCTION_URL + "tg"  # a URL with a path is taken as it is
    assert call.params["max_connections"] == "5"
    assert call.params["drop_pending_updates"] == "true"


def test_info_prints_what_telegram_knows(
    env: FakeTelegram, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["webhook", "set", FUNCTION_URL])
    capsys.readouterr()

    assert main(["webhook", "info"]) == 0

    shown = capsys.readouterr().out
    assert f"url: {FUNCTION_URL}webhook" in shown
    assert "allowed updates: message" in shown
    assert "last error: none" in shown


def test_info_needs_only_the_token(
    env: FakeTelegram, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("WEBHOOK_SECRET")

    assert main(["webhook", "info"]) == 0
    assert "Webhook info:" in capsys.readouterr().out


def test_delete_removes_it(env: FakeTelegram, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["webhook", "delete", "--drop-pending-updates"]) == 0

    [call] = env.calls_to("deleteWebhook")
    assert call.params["drop_pending_updates"] == "true"
    assert "Webhook deleted." in capsys.readouterr().out


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (None, "give the function's URL"),
        ("http://example.com/webhook", "only delivers webhooks over HTTPS"),
        ("https://example.com:8080/webhook", "ports 443, 80, 88 and 8443"),
    ],
)
def test_set_explains_a_missing_or_unusable_url(
    env: FakeTelegram, capsys: pytest.CaptureFixture[str], url: str | None, message: str
) -> None:
    assert main(["webhook", "set", *([url] if url else [])]) == 1

    assert message in capsys.readouterr().err
    assert env.calls_to("setWebhook") == []


def test_a_wrong_token_is_named(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeTelegram(valid_tokens={"1:other"}) as strict:
        monkeypatch.setenv("BOT_TOKEN", TOKEN)
        monkeypatch.setenv("WEBHOOK_SECRET", SECRET)
        monkeypatch.setenv("TELEGRAM_API_URL", strict.url)

        assert main(["webhook", "info"]) == 1

    assert "Telegram refused BOT_TOKEN (401 Unauthorized)" in capsys.readouterr().err


def test_telegram_refusing_the_url_is_reported_with_its_reason(
    env: FakeTelegram, capsys: pytest.CaptureFixture[str]
) -> None:
    env.fail("setWebhook", 400, "Bad Request: bad webhook: Failed to resolve host")

    assert main(["webhook", "set", FUNCTION_URL]) == 1

    assert "bad webhook: Failed to resolve host" in capsys.readouterr().err


def test_an_unreachable_bot_api_is_reported(
    env: FakeTelegram, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("TELEGRAM_API_URL", nowhere)

    assert main(["webhook", "info"]) == 1

    assert f"cannot reach the Bot API at {nowhere}" in capsys.readouterr().err


@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BOT_TOKEN", "WEBHOOK_SECRET", "BOT_TOKEN_PARAM", "WEBHOOK_SECRET_PARAM"):
        monkeypatch.delenv(name, raising=False)


def test_missing_credentials_are_named(no_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["webhook", "info"]) == 1

    err = capsys.readouterr().err
    assert "BOT_TOKEN is not set" in err
    assert "REDIS_URL" not in err


@pytest.mark.parametrize(
    ("failure", "says"),
    [
        ("redirect loop", "cannot reach the Bot API"),
        ("a proxy page echoing the URL", "unreadably"),
        ("an error description quoting the URL", "Telegram refused info"),
    ],
)
def test_no_failure_prints_the_token(
    failure: str, says: str, env: FakeTelegram, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the Bot API (or something in front of it) failing in a way that quotes the URL
    url = f"{env.url}/bot{TOKEN}/getWebhookInfo"
    if failure == "redirect loop":
        env.redirect_loop("getWebhookInfo")
    elif failure == "a proxy page echoing the URL":
        env.fail_raw("getWebhookInfo", 200, f"<html>no such page: {url}</html>")
    else:
        env.fail("getWebhookInfo", 400, f"Bad Request: cannot serve {url}")

    # When the command runs (in a deploy log, say)
    assert main(["webhook", "info"]) == 1

    # Then it says what failed, and nothing it printed holds the token's secret part
    printed = capsys.readouterr()
    assert says in printed.err
    assert TOKEN.partition(":")[2] not in printed.out + printed.err
