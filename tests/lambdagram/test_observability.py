"""What a deployed function tells CloudWatch: one JSON log line per update, EMF metrics.

The function runs in a process of its own here, as on Lambda, with its stdout captured:
that stream is what CloudWatch Logs receives.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any, cast

import pytest
import redis

from lambdagram import tracing
from lambdagram.local.events import lambda_event, message_update
from lambdagram.local.lambda_process import ROOT
from lambdagram.observability import sampled

from tests.conftest import SECRET

INVOKE = """
import json, sys
from lambdagram.local.composition import load_app
from lambdagram.local.events import LambdaContext
handler = load_app().lambda_handler  # LAMBDAGRAM_APP: the engine's test bot
for line in sys.stdin:
    handler(json.loads(line), LambdaContext())
"""


def cloudwatch(
    bot_env: dict[str, str], *events: dict[str, Any], level: str = "INFO"
) -> list[dict[str, Any]]:
    """The JSON lines a cold function writes to stdout while it handles ``events``."""
    stdout, _ = run_function(bot_env, *events, level=level)
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def run_function(
    bot_env: dict[str, str], *events: dict[str, Any], level: str = "INFO"
) -> tuple[str, str]:
    """What a cold function prints to stdout and stderr (both reach CloudWatch)."""
    env = {**os.environ, **bot_env, "POWERTOOLS_LOG_LEVEL": level, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", INVOKE],
        input="".join(json.dumps(event) + "\n" for event in events),
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=True,
        timeout=60,
    )
    return result.stdout, result.stderr


def emf_names(lines: list[dict[str, Any]]) -> set[str]:
    return {
        metric["Name"]
        for line in lines
        if "_aws" in line
        for directive in line["_aws"]["CloudWatchMetrics"]
        for metric in directive["Metrics"]
    }


def test_a_handled_update_logs_one_compact_line_with_what_finds_it(
    bot_env: dict[str, str], redis_client: redis.Redis
) -> None:
    update = message_update("/help", chat_id=1234)

    lines = cloudwatch(bot_env, lambda_event(update, secret=SECRET))

    logs = [line for line in lines if "message" in line]
    assert [line["message"] for line in logs] == ["update processed"]
    [line] = logs
    assert line["level"] == "INFO"
    assert line["correlation_id"] == str(update["update_id"])
    assert line["update_id"] == update["update_id"]
    assert line["update_type"] == "message"
    assert line["chat_id"] == 1234
    assert line["outcome"] == "replied"
    assert line["duration_ms"] > 0
    assert line["cold_start"] is True
    assert "T" in line["timestamp"]  # RFC 3339, which Lambda's JSON log format reads
    assert not {"function_arn", "function_name", "location", "taskName"} & set(line)


def test_a_warm_routine_update_is_one_line_and_no_metrics(
    bot_env: dict[str, str], redis_client: redis.Redis
) -> None:
    first, second = message_update("/help", chat_id=1), message_update("/help", chat_id=2)

    stdout, _ = run_function(
        bot_env, lambda_event(first, secret=SECRET), lambda_event(second, secret=SECRET)
    )

    warm = stdout.splitlines()[-1]
    assert json.loads(warm)["correlation_id"] == str(second["update_id"])
    assert "cold_start" not in json.loads(warm)
    assert stdout.count("\n") == 3  # the cold one's line and its ColdStarts EMF line, then one
    assert len(warm) < 300  # bytes CloudWatch ingests for a routine update (make bench: all)


def test_routine_lines_are_a_sample_by_update_id_each_weighted_the_rest_always_written(
    bot_env: dict[str, str], redis_client: redis.Redis
) -> None:
    """``ROUTINE_LOG_SAMPLE=0.25`` (deployed: 0.1): a quarter of the routine lines, chosen by
    the update id's hash (so the same ones every run), each saying it stands for 4; a duplicate
    is not routine and always written."""
    updates = [message_update("/help", chat_id=7000 + n) for n in range(40)]
    again = updates[3]

    lines = cloudwatch(
        {**bot_env, "ROUTINE_LOG_SAMPLE": "0.25"},
        *(lambda_event(u, secret=SECRET) for u in [*updates, again]),
    )

    written = [line for line in lines if line.get("message") == "update processed"]
    routine = [line for line in written if line["outcome"] == "replied"]
    chosen = [u["update_id"] for u in updates if sampled(u["update_id"], 0.25)]
    assert [line["update_id"] for line in routine] == chosen
    assert 0 < len(chosen) < 40
    assert {line["weight"] for line in routine} == {4.0}
    [duplicate] = [line for line in written if line["outcome"] == "duplicate"]
    assert "weight" not in duplicate


def test_warnings_and_errors_carry_the_whole_invocation_context(
    bot_env: dict[str, str], redis_client: redis.Redis
) -> None:
    down = {**bot_env, "REDIS_URL": "redis://127.0.0.1:1/0", "REDIS_TIMEOUT": "0.2"}

    lines = cloudwatch(down, lambda_event(message_update("/help"), secret=SECRET))

    [refused] = [line for line in lines if line.get("message") == "webhook request refused"]
    assert refused["level"] == "ERROR"
    assert refused["error"] == "storage_unavailable"
    assert refused["function_name"] == "lambdagram-dev-webhook"
    assert refused["function_request_id"]
    assert refused["location"]


def test_a_refused_request_costs_one_compact_line_with_its_count_in_it(
    bot_env: dict[str, str], redis_client: redis.Redis
) -> None:
    stdout, _ = run_function(
        bot_env,
        lambda_event(message_update("/help"), secret=SECRET),  # the cold start, warm after it
        lambda_event(message_update("/help"), secret="wrong"),
        lambda_event(message_update("/help"), secret="wrong"),
    )

    warm = stdout.splitlines()[-2:]  # what each refusal wrote: one line
    assert stdout.count("\n") == 2 + 2
    for line in warm:
        refused = json.loads(line)
        assert refused["message"] == "webhook request refused"
        assert refused["level"] == "WARNING"
        assert (refused["status"], refused["error"]) == (401, "wrong_secret")
        assert refused["RequestsRefused"] == [1.0]  # the exact count, for the alarm
        assert emf_names([refused]) == {"RequestsRefused"}
        assert len(line) < 450  # bytes CloudWatch ingests per refusal (make bench: all)


def test_at_debug_every_line_is_whole(bot_env: dict[str, str], redis_client: redis.Redis) -> None:
    lines = cloudwatch(
        bot_env, lambda_event(message_update("/help"), secret=SECRET), level="DEBUG"
    )

    [line] = [line for line in lines if line.get("message") == "update processed"]
    assert line["function_name"] == "lambdagram-dev-webhook"


def test_a_bot_that_calls_basicconfig_at_import_does_not_double_the_engines_lines(
    bot_env: dict[str, str], redis_client: redis.Redis
) -> None:
    env = {**bot_env, "LAMBDAGRAM_APP": "tests.support.bots.chatty:app"}
    update = message_update("hello", chat_id=1234)

    stdout, stderr = run_function(env, lambda_event(update, secret=SECRET))

    printed = stdout + stderr
    assert printed.count("update processed") == 1
    assert printed.count("echoing hello") == 1  # the bot's own line, once, where it asked
    assert "mangum" not in printed  # the adapter's per-request line is no bill of the bot's
    assert "is handled" not in printed  # nor aiogram's "Update id=... is handled" INFO line


def test_metrics_are_emitted_in_emf(bot_env: dict[str, str], redis_client: redis.Redis) -> None:
    update = message_update("/help")

    lines = cloudwatch(
        bot_env,
        lambda_event(update, secret=SECRET),
        lambda_event(update, secret=SECRET),  # a duplicate
        lambda_event(update, secret="wrong"),  # refused
    )

    assert emf_names(lines) == {"ColdStarts", "DuplicateUpdates", "RequestsRefused"}
    cold = next(line for line in lines if "ColdStarts" in line)
    [directive] = cold["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "lambdagram"
    assert directive["Dimensions"] == [["service"]]  # one metric per name, none per update kind


def test_tracing_is_off_by_default_and_costs_one_shared_object() -> None:
    assert not tracing.enabled({})
    assert tracing.span("redis.claim") is tracing.span("telegram.sendMessage")


def test_turning_tracing_on_without_the_sdk_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert tracing.enabled({"POWERTOOLS_TRACE_DISABLED": "false"})
    monkeypatch.setattr(tracing, "_tracer", None)
    # as in the deployed zip, which has no aws-xray-sdk (the dev tools' moto pulls it in here)
    for name in [m for m in sys.modules if m.startswith("aws_xray_sdk")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "aws_xray_sdk", cast(Any, None))

    with pytest.raises(tracing.TracingUnavailable, match="add aws-xray-sdk"):
        tracing.tracer()
