"""The CloudFormation template `serverless package` generates: what AWS will create."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from lambdagram import albums

from tests.deploy.conftest import DIST

ROOT = DIST.parent


def resources(template: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [r["Properties"] for r in template["Resources"].values() if r["Type"] == kind]


def resource(template: dict[str, Any], name: str) -> dict[str, Any]:
    properties: dict[str, Any] = template["Resources"][name]["Properties"]
    return properties


def actions(policy_statements: list[dict[str, Any]]) -> set[str]:
    found: set[str] = set()
    for statement in policy_statements:
        listed = statement["Action"]
        found.update([listed] if isinstance(listed, str) else listed)
    return found


def test_the_function_is_python312_on_arm64_with_the_lambda_entry(
    template: dict[str, Any],
) -> None:
    function = resource(template, "WebhookLambdaFunction")

    # the Python that packaged it (and compiled its bytecode): .venv's, 3.12 or 3.13
    assert function["Runtime"] == f"python{sys.version_info.major}.{sys.version_info.minor}"
    assert function["Architectures"] == ["arm64"]
    assert function["Handler"] == "handler.handler"
    assert function["Timeout"] > 10 + 3  # LOCK_WAIT plus the margin the app keeps
    assert function["Timeout"] <= 30  # an HTTP API's integration limit
    assert function["ReservedConcurrentExecutions"] >= 1


def test_telegram_reaches_it_through_a_function_url_with_no_gateway(
    template: dict[str, Any],
) -> None:
    [url] = resources(template, "AWS::Lambda::Url")

    assert url["AuthType"] == "NONE"  # Telegram authenticates with the secret header
    assert resources(template, "AWS::ApiGatewayV2::Api") == []
    assert resources(template, "AWS::ApiGateway::RestApi") == []
    assert "WebhookLambdaFunctionUrl" in template["Outputs"] or any(
        "FunctionUrl" in name for name in template["Outputs"]
    )


def test_no_secret_is_in_the_template(template: dict[str, Any]) -> None:
    webhook, worker = resources(template, "AWS::Lambda::Function")
    variables = webhook["Environment"]["Variables"]

    assert worker["Environment"] == webhook["Environment"]  # the same code and settings
    assert not {"BOT_TOKEN", "WEBHOOK_SECRET", "REDIS_URL"} & set(variables)
    assert variables["BOT_TOKEN_PARAM"] == "/lambdagram/dev/bot-token"
    assert variables["WEBHOOK_SECRET_PARAM"] == "/lambdagram/dev/webhook-secret"
    assert variables["REDIS_URL_PARAM"] == "/lambdagram/dev/redis-url"
    text = json.dumps(template)
    assert "rediss://" not in text
    assert "redis://" not in text


def test_the_role_reads_only_this_stages_parameters(template: dict[str, Any]) -> None:
    role = resource(template, "IamRoleLambdaExecution")
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    by_action = {
        tuple(s["Action"]) if isinstance(s["Action"], list) else (s["Action"],): s
        for s in statements
    }

    ssm = by_action[("ssm:GetParameters",)]
    resources_text = json.dumps(ssm["Resource"])
    assert resources_text.count(":parameter/lambdagram/dev/") == 3
    assert "*" not in resources_text
    invoke = by_action[("lambda:InvokeFunction",)]  # itself only (albums, lambdagram/deferred)
    assert json.dumps(invoke["Resource"]).count(":function:lambdagram-dev-webhook") == 1
    kms = by_action[("kms:Decrypt",)]
    assert "kms:ViaService" in json.dumps(kms["Condition"])
    # ... and only for this stage's three parameters (SSM's encryption context names them)
    context = kms["Condition"]["StringEquals"]["kms:EncryptionContext:PARAMETER_ARN"]
    assert json.dumps(context).count(":parameter/lambdagram/dev/") == 3
    queue_policy = resource(template, "DeferredFailuresPolicy")  # to the stage's failure queue
    [send] = queue_policy["PolicyDocument"]["Statement"]
    assert (send["Action"], send["Resource"]) == (
        "sqs:SendMessage",
        {"Fn::GetAtt": ["DeferredFailures", "Arn"]},
    )
    assert queue_policy["Roles"] == [{"Ref": "IamRoleLambdaExecution"}]
    for statement in statements:  # nothing else is granted on every resource
        assert statement["Resource"] != "*", statement


def test_tracing_is_off_unless_asked_for(template: dict[str, Any]) -> None:
    for function in resources(template, "AWS::Lambda::Function"):
        assert function["Environment"]["Variables"]["POWERTOOLS_TRACE_DISABLED"] == "true"
        assert function.get("TracingConfig", {}).get("Mode") != "Active"


def test_logs_are_kept_for_a_bounded_time(template: dict[str, Any]) -> None:
    groups = resources(template, "AWS::Logs::LogGroup")

    assert [group["RetentionInDays"] for group in groups] == [14, 14]  # webhook, worker


def test_cfn_lint_finds_no_errors_in_the_generated_and_infra_templates(
    dev_package: Path,
) -> None:
    templates = [
        dev_package / "cloudformation-template-update-stack.json",
        *sorted((ROOT / "infra").glob("*.yaml")),
    ]
    assert len(templates) >= 2

    result = subprocess.run(
        # cfn-lint's own entry point (the package has no __main__: `-m cfnlint` never ran it)
        [sys.executable, "-c", "import sys; from cfnlint.runner import main; sys.exit(main())"]
        + [str(t) for t in templates],
        capture_output=True,
        text=True,
        check=False,
    )

    # cfn-lint's exit code is a bit mask: 1 a failure to run, 2 errors (4 warnings, 8 info)
    assert result.returncode & 3 == 0, result.stdout + result.stderr


def test_an_internal_event_that_fails_every_attempt_goes_to_an_encrypted_queue(
    template: dict[str, Any],
) -> None:
    [config] = resources(template, "AWS::Lambda::EventInvokeConfig")
    queue = resource(template, "DeferredFailures")

    # lambdagram.albums.CLOSER_ATTEMPTS: Lambda's first run and its retries
    assert config["MaximumRetryAttempts"] + 1 == albums.CLOSER_ATTEMPTS
    assert config["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": ["DeferredFailures", "Arn"]
    }
    assert config["FunctionName"] == {"Ref": "WebhookLambdaFunction"}
    assert queue["SqsManagedSseEnabled"] is True


def test_long_work_is_a_fifo_queue_a_worker_with_its_own_role_and_a_capped_mapping(
    template: dict[str, Any],
) -> None:
    queue = resource(template, "LongWorkQueue")
    worker = resource(template, "WorkerLambdaFunction")
    mapping = resource(template, "LongWorkMapping")
    webhook_env = resource(template, "WebhookLambdaFunction")["Environment"]["Variables"]

    assert queue["FifoQueue"] is True
    assert queue["SqsManagedSseEnabled"] is True
    assert resource(template, "LongWorkDeadLetters")["SqsManagedSseEnabled"] is True
    assert queue["VisibilityTimeout"] >= worker["Timeout"]  # Lambda refuses a mapping otherwise
    assert queue["RedrivePolicy"]["maxReceiveCount"] > 10  # the engine's MAX_ATTEMPTS first
    assert worker["Handler"] == "handler.handler"
    assert worker["Architectures"] == ["arm64"]
    assert worker["Role"] == {"Fn::GetAtt": ["LongWorkWorkerRole", "Arn"]}
    assert webhook_env["LONG_WORK_QUEUE_URL"] == {"Ref": "LongWorkQueue"}
    assert webhook_env["BROADCAST_RATE"] == "29"  # the worker's too: the provider's environment
    assert webhook_env["ROUTINE_LOG_SAMPLE"] == "0.1"  # bench/__main__.py's too
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["ScalingConfig"]["MaximumConcurrency"] >= 2
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": ["LongWorkQueue", "Arn"]}


def test_what_dies_in_the_dlq_goes_to_the_worker_to_become_the_engines_dead_letter(
    template: dict[str, Any],
) -> None:
    mapping = resource(template, "LongWorkDeadLettersMapping")
    dead = resource(template, "LongWorkDeadLetters")
    env = resource(template, "WorkerLambdaFunction")["Environment"]["Variables"]
    role = resource(template, "LongWorkWorkerRole")
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]

    assert mapping["EventSourceArn"] == {"Fn::GetAtt": ["LongWorkDeadLetters", "Arn"]}
    assert mapping["FunctionName"] == {"Fn::GetAtt": ["WorkerLambdaFunction", "Arn"]}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert env["LONG_WORK_DEAD_LETTERS_ARN"] == {"Fn::GetAtt": ["LongWorkDeadLetters", "Arn"]}
    assert dead["VisibilityTimeout"] >= resource(template, "WorkerLambdaFunction")["Timeout"]
    reading = [s for s in statements if s.get("Resource") == mapping["EventSourceArn"]]
    assert {"sqs:ReceiveMessage", "sqs:DeleteMessage"} <= actions(reading)
    assert "sqs:SendMessage" not in actions(reading)


def test_the_webhook_may_only_send_to_the_queue_and_the_worker_only_use_its_own_queue(
    template: dict[str, Any],
) -> None:
    webhook = actions(
        [
            statement
            for policy in resource(template, "IamRoleLambdaExecution")["Policies"]
            for statement in policy["PolicyDocument"]["Statement"]
        ]
        + resource(template, "LongWorkSendPolicy")["PolicyDocument"]["Statement"]
    )
    worker = actions(
        [
            statement
            for policy in resource(template, "LongWorkWorkerRole")["Policies"]
            for statement in policy["PolicyDocument"]["Statement"]
        ]
    )

    assert {a for a in webhook if a.startswith("sqs:")} == {"sqs:SendMessage"}
    assert {a for a in worker if a.startswith("sqs:")} == {
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:ChangeMessageVisibility",
        "sqs:SendMessage",  # a broadcast's next round, to its own queue only
    }
    assert "lambda:InvokeFunction" not in worker
    assert {"ssm:GetParameters", "kms:Decrypt"} <= worker


def test_long_work_pages_on_dead_letters_a_backlog_and_worker_errors(
    template: dict[str, Any],
) -> None:
    names = {a["AlarmName"] for a in resources(template, "AWS::CloudWatch::Alarm")}

    assert {
        "lambdagram-dev-long-work-dead",
        "lambdagram-dev-long-work-backlog",
        "lambdagram-dev-worker-errors",
    } <= names


def serverless_print(*params: str, **extra_env: str) -> dict[str, Any]:
    """The stage's configuration as the framework resolves it with ``params`` (no packaging)."""
    node = os.environ.get("LAMBDAGRAM_NODE_DIR") or str(ROOT / ".tools" / "node")
    env = {
        **os.environ,
        **extra_env,
        "PATH": f"{node}/bin:{os.environ.get('PATH', '')}",
        "AWS_ACCESS_KEY_ID": "offline",
        "AWS_SECRET_ACCESS_KEY": "offline",
        "SLS_TELEMETRY_DISABLED": "1",
    }
    command = [str(ROOT / "node_modules" / ".bin" / "serverless"), "print", "--stage", "dev",
               "--format", "json", *(f"--param={p}" for p in params)]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ServerlessError(done.stdout + done.stderr)
    printed: dict[str, Any] = json.loads(done.stdout)
    return printed


class ServerlessError(Exception):
    """The framework refused the configuration; the message is what it printed."""


def test_plain_serverless_deploy_asks_the_bot_what_it_needs(dev_package: Path) -> None:
    """`serverless deploy` with no --param, as the framework's docs teach: the example bot has a
    long handler, broadcasts and timers, so the queue, the worker and Scheduler come with it."""
    config = serverless_print()
    found = config["resources"]["Resources"]

    assert config["provider"]["environment"]["LONG_WORK_QUEUE_URL"] == {"Ref": "LongWorkQueue"}
    assert "worker" in config["functions"]
    assert {"TimersGroup", "TimersRole", "TimersPolicy"} <= set(found)
    assert config["provider"]["environment"]["TIMERS_GROUP"] == "lambdagram-dev"


def test_a_bot_that_cannot_be_asked_stops_the_deploy_with_the_fix(dev_package: Path) -> None:
    try:
        serverless_print(PYTHON_BIN="/nonexistent/python")
    except ServerlessError as error:
        said = str(error)
    else:
        raise AssertionError("the framework deployed without knowing what the bot needs")

    assert "cannot ask the bot whether it needs" in said
    assert "Run `make setup` first" in said
    assert 'serverless deploy --param="' in said
    assert serverless_print("longWork=off", "timers=off", PYTHON_BIN="/nonexistent/python")


def test_a_long_handler_on_the_worker_may_set_timers(dev_package: Path) -> None:
    found = serverless_print("timers=on", "longWork=on")["resources"]["Resources"]

    roles = found["TimersPolicy"]["Properties"]["Roles"]

    assert {"Ref": "LongWorkWorkerRole"} in roles
    assert {"Ref": "IamRoleLambdaExecution"} in roles


def test_timers_are_a_schedule_group_and_roles_that_may_do_only_that(
    dev_package: Path,
) -> None:
    config = serverless_print("timers=on")
    found = config["resources"]["Resources"]
    env = config["provider"]["environment"]
    invoker = found["TimersRole"]["Properties"]
    use = found["TimersPolicy"]["Properties"]["PolicyDocument"]["Statement"]

    assert found["TimersGroup"]["Properties"]["Name"] == "lambdagram-dev"
    assert env["TIMERS_GROUP"] == "lambdagram-dev"
    assert env["TIMERS_ROLE_ARN"] == {"Fn::GetAtt": ["TimersRole", "Arn"]}
    assert found["TimersDeadLetters"]["Properties"]["SqsManagedSseEnabled"] is True
    [trust] = invoker["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    [policy] = invoker["Policies"]
    assert actions(policy["PolicyDocument"]["Statement"]) == {
        "lambda:InvokeFunction",
        "sqs:SendMessage",
    }
    scoped = [s for s in use if "scheduler:CreateSchedule" in s["Action"]]
    assert ":schedule/lambdagram-dev/*" in json.dumps(scoped)
    [passing] = [s for s in use if s["Action"] == "iam:PassRole"]
    assert passing["Condition"]["StringEquals"]["iam:PassedToService"] == "scheduler.amazonaws.com"
    assert "TimersGroup" not in serverless_print("timers=off")["resources"]["Resources"]
