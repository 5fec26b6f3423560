"""The deploy helpers `make params` and `make preflight` run, against a recording AWS CLI.

There is no AWS here: a stand-in ``aws`` answers the few calls the scripts make, as the AWS
CLI prints them with ``--output text``, and records each call's arguments and stdin.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "123456789:AAH-deploy-test-token-0123456789ab"

FAKE_AWS = """\
import json, sys
args = sys.argv[1:]
stdin = "" if sys.stdin.isatty() else sys.stdin.read()
with open({log!r}, "a") as log:
    log.write(json.dumps({{"args": args, "stdin": stdin}}) + "\\n")
answers = {answers!r}
for command, (code, text) in answers.items():
    if command in args:
        print(text, file=sys.stderr if code else sys.stdout)  # as the AWS CLI does
        sys.exit(code)
"""


def fake_aws(tmp_path: Path, answers: dict[str, tuple[int, str]]) -> tuple[str, Path]:
    log = tmp_path / "aws-calls.jsonl"
    script = tmp_path / "aws.py"
    script.write_text(FAKE_AWS.format(log=str(log), answers=answers))
    return f"{sys.executable} {script}", log


def calls(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def run(script: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [f"scripts/{script}", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_params_puts_three_securestrings_in_the_region_with_values_only_on_stdin(
    tmp_path: Path,
) -> None:
    aws, log = fake_aws(tmp_path, {"get-parameter": (255, "ParameterNotFound")})
    env = {"STAGE": "prod", "REGION": "eu-central-1", "AWS": aws, "BOT_TOKEN": TOKEN,
           "REDIS_URL": "rediss://default:pw@cache.example:6379"}  # fmt: skip

    result = run("params.sh", env)

    assert result.returncode == 0, result.stderr
    puts = [c for c in calls(log) if "put-parameter" in c["args"]]
    assert [c["args"][c["args"].index("--name") + 1] for c in puts] == [
        "/lambdagram/prod/bot-token",
        "/lambdagram/prod/webhook-secret",
        "/lambdagram/prod/redis-url",
    ]
    for call in puts:
        assert call["args"][:2] == ["--region", "eu-central-1"]
        assert "SecureString" in call["args"]
        assert "file:///dev/stdin" in call["args"]
    assert puts[0]["stdin"] == TOKEN
    assert len(puts[1]["stdin"]) >= 32  # a new webhook secret
    assert TOKEN not in json.dumps([c["args"] for c in calls(log)])
    assert TOKEN not in result.stdout + result.stderr


def test_params_keeps_an_existing_webhook_secret(tmp_path: Path) -> None:
    aws, log = fake_aws(tmp_path, {"get-parameter": (0, "kept-secret-0123456789")})
    env = {"STAGE": "dev", "REGION": "eu-west-1", "AWS": aws, "BOT_TOKEN": TOKEN,
           "REDIS_URL": "redis://localhost:6379"}  # fmt: skip

    assert run("params.sh", env).returncode == 0

    [secret] = [c for c in calls(log) if "/lambdagram/dev/webhook-secret" in c["args"]
                and "put-parameter" in c["args"]]  # fmt: skip
    assert secret["stdin"] == "kept-secret-0123456789"


def test_params_names_what_is_missing(tmp_path: Path) -> None:
    aws, _ = fake_aws(tmp_path, {})

    result = run("params.sh", {"STAGE": "dev", "REGION": "eu-west-1", "AWS": aws, "BOT_TOKEN": ""})

    assert result.returncode == 1
    assert result.stderr.startswith("error: set BOT_TOKEN")


@pytest.mark.parametrize(
    ("unreserved", "args", "fits"),
    [
        ("10", [], False),  # a new account: quota 10, all of it must stay unreserved
        ("990", [], True),
        ("10", ["--param=reservedConcurrency=off"], True),
        ("45", ["--stage", "prod"], False),  # prod reserves 40: 5 would stay
    ],
    ids=["new-account", "raised-quota", "off", "prod-too-big"],
)
def test_preflight_refuses_a_reservation_the_account_cannot_hold(
    tmp_path: Path, unreserved: str, args: list[str], fits: bool
) -> None:
    aws, _ = fake_aws(
        tmp_path,
        {"get-account-settings": (0, unreserved), "get-function-concurrency": (254, "")},
    )
    stage = "prod" if "prod" in args else "dev"

    result = run("preflight.sh", {"STAGE": stage, "REGION": "eu-west-1", "AWS": aws}, *args)

    assert (result.returncode == 0) is fits, result.stderr
    if not fits:
        assert 'PARAMS="reservedConcurrency=off"' in result.stderr


def test_a_localstack_release_that_needs_an_auth_token_is_refused_first_with_the_way_out() -> None:
    env = {k: v for k, v in os.environ.items() if k != "LOCALSTACK_AUTH_TOKEN"}
    result = subprocess.run(
        ["scripts/localstack.sh", "up"],
        cwd=ROOT,
        env={**env, "LOCALSTACK_VERSION": "2026.3.0"},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert result.returncode == 1
    assert "asks for an auth token" in result.stderr
    assert "LOCALSTACK_VERSION=4.13.1" in result.stderr
    assert "[localstack]" not in result.stderr  # before anything was started


@pytest.mark.parametrize("script", ["params.sh", "preflight.sh"])
def test_without_the_aws_cli_the_deploy_helpers_say_to_install_it(script: str) -> None:
    env = {"STAGE": "dev", "REGION": "eu-west-1", "AWS": "aws-cli-not-installed-here",
           "BOT_TOKEN": TOKEN, "REDIS_URL": "redis://cache:6379"}  # fmt: skip

    result = run(script, env)

    assert result.returncode == 1
    assert result.stderr.startswith("error: the AWS CLI (aws-cli-not-installed-here) is not")
    assert "aws configure" in result.stderr


def test_params_without_credentials_says_so_in_its_own_words(tmp_path: Path) -> None:
    aws, log = fake_aws(tmp_path, {"get-caller-identity": (253, "Unable to locate credentials")})
    env = {"STAGE": "dev", "REGION": "eu-west-1", "AWS": aws, "BOT_TOKEN": TOKEN,
           "REDIS_URL": "redis://cache:6379"}  # fmt: skip

    result = run("params.sh", env)

    assert result.returncode == 1
    assert "cannot reach AWS in eu-west-1: Unable to locate credentials" in result.stderr
    assert "aws configure" in result.stderr
    assert not [c for c in calls(log) if "put-parameter" in c["args"]]
