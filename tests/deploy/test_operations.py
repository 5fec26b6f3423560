"""What a deploy brings for operating a stage: log settings, alarms, a dashboard.

The template is the packaged one; each alarm and widget is checked against what the engine
really emits (its `Metric` names, its log messages), so a renamed metric cannot leave an
alarm watching nothing.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from lambdagram.observability import Metric

from tests.deploy.test_template import ROOT, resources

FUNCTION = "lambdagram-dev-webhook"
SERVICE = "lambdagram-dev"
EMITTED = {m.value for m in Metric} | {"LockWait"}
LAMBDA_METRICS = {"Invocations", "Errors", "Throttles", "Duration", "ConcurrentExecutions"}


def alarms(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["AlarmName"]: a for a in resources(template, "AWS::CloudWatch::Alarm")}


def watched(alarm: dict[str, Any]) -> list[dict[str, Any]]:
    """The metrics an alarm evaluates: its own, or each MetricStat of its metric math."""
    if "MetricName" in alarm:
        return [alarm]
    return [m["MetricStat"]["Metric"] for m in alarm["Metrics"] if "MetricStat" in m]


def test_lambda_logs_json_with_platform_lines_dropped(template: dict[str, Any]) -> None:
    webhook, worker = resources(template, "AWS::Lambda::Function")
    variables = webhook["Environment"]["Variables"]

    for function in (webhook, worker):
        assert function["LoggingConfig"] == {
            "LogFormat": "JSON",
            "ApplicationLogLevel": "INFO",
            "SystemLogLevel": "WARN",  # START/END/REPORT are INFO-level system logs
        }
    assert variables["POWERTOOLS_LOG_LEVEL"] == "INFO"
    assert variables["POWERTOOLS_LOGGER_SAMPLE_RATE"] == "0"
    assert variables["POWERTOOLS_SERVICE_NAME"] == SERVICE  # the metrics' dimension


def test_every_stage_gets_its_alarms_on_its_topic(template: dict[str, Any]) -> None:
    found = alarms(template)

    assert set(found) == {
        f"{SERVICE}-{name}"
        for name in ("5xx-sustained", "handler-errors", "dead-letters", "lock-timeouts",
                     "throttles", "lambda-errors", "near-timeout", "deferred-failures",
                     "defer-refused", "requests-refused",
                     # long work (the example bot's /card is flagged long)
                     "long-work-dead", "long-work-backlog", "worker-errors")
    }  # fmt: skip
    [topic] = [k for k, r in template["Resources"].items() if r["Type"] == "AWS::SNS::Topic"]
    for alarm in found.values():
        assert alarm["AlarmActions"] == [{"Ref": topic}], alarm["AlarmName"]
        assert alarm["TreatMissingData"] == "notBreaching"
    assert template["Outputs"]["AlarmTopicArn"]["Value"] == {"Ref": topic}


def test_each_alarm_watches_a_metric_that_is_really_emitted(template: dict[str, Any]) -> None:
    for alarm in alarms(template).values():
        for metric in watched(alarm):
            [dimension] = metric["Dimensions"]
            if metric["Namespace"] == "lambdagram":
                assert metric["MetricName"] in EMITTED, metric
                assert dimension == {"Name": "service", "Value": SERVICE}
            elif metric["Namespace"] == "AWS/SQS":  # one of the stage's queues
                queues = {p["QueueName"] for p in resources(template, "AWS::SQS::Queue")}
                assert dimension["Name"] == "QueueName"
                assert dimension["Value"] in queues
            else:
                assert metric["Namespace"] == "AWS/Lambda"
                assert metric["MetricName"] in LAMBDA_METRICS
                assert dimension["Name"] == "FunctionName"
                assert dimension["Value"] in {FUNCTION, f"{SERVICE}-worker"}


def test_the_duration_alarm_follows_the_timeout(template: dict[str, Any]) -> None:
    function = template["Resources"]["WebhookLambdaFunction"]["Properties"]
    alarm = alarms(template)[f"{SERVICE}-near-timeout"]

    [expression] = [m["Expression"] for m in alarm["Metrics"] if "Expression" in m]
    assert f"({function['Timeout']} * 1000)" in expression
    assert alarm["Threshold"] == 0.8


def dashboard_body(template: dict[str, Any]) -> dict[str, Any]:
    """The dashboard's JSON as CloudFormation's Fn::Sub would make it."""
    [dashboard] = resources(template, "AWS::CloudWatch::Dashboard")
    text, variables = dashboard["DashboardBody"]["Fn::Sub"]
    variables = {
        name: value["Fn::Sub"] if isinstance(value, dict) else value
        for name, value in variables.items()
    }
    aws = {"AWS::Region": "eu-west-1", "AWS::AccountId": "123456789012"}

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        return str(aws.get(name) or variables[name])

    filled = re.sub(r"\$\{([^}]+)\}", fill, text)
    filled = re.sub(r"\$\{([^}]+)\}", fill, filled)  # the alarm widget's own ${AWS::...}
    body: dict[str, Any] = json.loads(filled)
    return body


def test_the_dashboard_shows_updates_outcomes_latency_and_failures(
    template: dict[str, Any],
) -> None:
    widgets = dashboard_body(template)["widgets"]

    metrics = [m for w in widgets if w["type"] == "metric" for m in w["properties"]["metrics"]]
    ours = {m[1] for m in metrics if m[0] == "lambdagram"}
    assert ours <= EMITTED
    assert {"ColdStarts", "ServerErrors", "DeadLetters", "LockWait", "RedisErrors",
            "BotApiErrors", "HandlerErrors", "DuplicateUpdates"} <= ours  # fmt: skip
    assert all(m[3] == SERVICE for m in metrics if m[0] == "lambdagram")
    lambdas = {(m[1], m[4].get("stat")) for m in metrics if m[0] == "AWS/Lambda" and len(m) > 4}
    assert {("Duration", "p50"), ("Duration", "p99")} <= lambdas
    queries = " ".join(w["properties"]["query"] for w in widgets if w["type"] == "log")
    assert f"/aws/lambda/{FUNCTION}" in queries
    assert "'update processed'" in queries  # the engine's line per update ...
    assert "coalesce(weight, 1)" in queries  # ... routine ones sampled, each standing for 1/share
    assert "'webhook request refused'" in queries  # ... and per refusal
    source = (ROOT / "lambdagram" / "app.py").read_text()
    assert '"update processed"' in source
    assert '"webhook request refused"' in source
    shown = [a for w in widgets if w["type"] == "alarm" for a in w["properties"]["alarms"]]
    assert len(shown) == len(alarms(template))
    assert [m[1] for m in metrics if m[0] == "AWS/SQS"] == [
        "ApproximateAgeOfOldestMessage",
        "ApproximateNumberOfMessagesVisible",
    ]


@pytest.mark.parametrize(
    ("params", "has_alarms", "has_dashboard"),
    [
        (["--param=alarms=off"], False, True),
        (["--param=dashboard=off"], True, False),
        (["--param=alarms=off", "--param=dashboard=off"], False, False),
    ],
)
def test_alarms_and_dashboard_each_have_an_off_switch(
    params: list[str], has_alarms: bool, has_dashboard: bool
) -> None:
    if not (ROOT / "node_modules" / ".bin" / "serverless").exists():
        pytest.skip("the Serverless Framework is not installed (make deploy-tools)")
    printed = subprocess.run(
        [str(ROOT / "node_modules" / ".bin" / "serverless"), "print", "--stage", "dev",
         "--format", "json", "--path", "resources", *params],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
        env={"PATH": f"{ROOT / '.tools' / 'node' / 'bin'}:/usr/local/bin:/usr/bin:/bin",
             "HOME": str(Path.home()), "SLS_TELEMETRY_DISABLED": "1"},
    )  # fmt: skip
    assert printed.returncode == 0, printed.stderr
    merged = json.loads(printed.stdout)  # serverless merges the resources' parts
    names = set(merged.get("Resources") or {})
    assert ("ServerErrorsAlarm" in names) is has_alarms
    assert ("Dashboard" in names) is has_dashboard
    if has_dashboard and not has_alarms:
        assert "No alarms on this stage" in json.dumps(merged["Resources"]["Dashboard"])


def test_the_readme_names_every_metric_the_engine_emits() -> None:
    """An operator reads the README's "Metrics" paragraph to know what a metric means."""
    readme = (ROOT / "README.md").read_text()
    paragraph = readme[readme.index("**Metrics** (EMF") : readme.index("**Alarms**")]
    named = set(re.findall(r"`([A-Z][A-Za-z]+)`", paragraph))
    assert named >= EMITTED, sorted(EMITTED - named)
