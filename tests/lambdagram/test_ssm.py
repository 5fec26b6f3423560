"""SSM parameters at cold start: signed exactly as AWS SDKs sign, read from a real endpoint."""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from lambdagram.local.servers import JSONRequestHandler, LoopbackHTTPServer
from lambdagram.ssm import ParameterError, resolve_parameters, sign_v4

CREDS = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG"}


SIGNED = [
    pytest.param(  # SSM at cold start
        "POST",
        "https://ssm.eu-west-1.amazonaws.com/",
        b'{"Names": ["/a"], "WithDecryption": true}',
        {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "AmazonSSM.GetParameters"},
        "ssm",
        id="ssm",
    ),
    pytest.param(  # the long-work queue (lambdagram.sqs)
        "POST",
        "https://sqs.eu-west-1.amazonaws.com/",
        b'{"QueueUrl": "https://sqs.eu-west-1.amazonaws.com/1/q.fifo"}',
        {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "AmazonSQS.SendMessage"},
        "sqs",
        id="sqs",
    ),
    pytest.param(  # the timers (lambdagram.scheduler): a GET with a sorted query string
        "GET",
        "https://scheduler.eu-west-1.amazonaws.com/schedules?MaxResults=100&NamePrefix=c1-"
        "&ScheduleGroup=lambdagram-dev",
        b"",
        {"Content-Type": "application/json"},
        "scheduler",
        id="scheduler",
    ),
]


@pytest.mark.parametrize(("method", "url", "body", "headers", "service"), SIGNED)
def test_the_signature_is_the_one_botocore_computes(
    method: str, url: str, body: bytes, headers: dict[str, str], service: str
) -> None:
    reference = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
    SigV4Auth(Credentials("AKIDEXAMPLE", "secret", "token-1"), service, "eu-west-1").add_auth(
        reference
    )
    when = datetime.datetime.strptime(reference.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ")

    ours = sign_v4(
        method,
        url,
        headers,
        body,
        ("AKIDEXAMPLE", "secret", "token-1"),
        "eu-west-1",
        service,
        now=when.replace(tzinfo=datetime.UTC),
    )

    assert ours["Authorization"] == reference.headers["Authorization"]
    assert ours["X-Amz-Security-Token"] == "token-1"


class FakeSSM(LoopbackHTTPServer):
    """An SSM endpoint on loopback, serving once made; records requests, refuses the
    access key DENIED."""

    def __init__(self, parameters: dict[str, str]) -> None:
        self.parameters = parameters
        self.requests: list[dict[str, Any]] = []
        outer = self

        class Handler(JSONRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.requests.append({"headers": dict(self.headers), "body": json.loads(body)})
                names = json.loads(body)["Names"]
                answer: dict[str, Any] = {
                    "Parameters": [
                        {"Name": n, "Value": outer.parameters[n], "Type": "SecureString"}
                        for n in names
                        if n in outer.parameters
                    ],
                    "InvalidParameters": [n for n in names if n not in outer.parameters],
                }
                status = 200
                if "Credential=DENIED/" in self.headers.get("Authorization", ""):
                    status, answer = (
                        400,
                        {
                            "__type": "com.amazonaws.ssm#AccessDeniedException",
                            "message": "not allowed",
                        },
                    )
                self.reply_json(status, answer)

        super().__init__(Handler)
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def ssm() -> Iterator[FakeSSM]:
    server = FakeSSM(
        {"/lg/dev/token": "123:abc", "/lg/dev/secret": "s3", "/lg/dev/redis": "redis://x"}
    )
    yield server
    server.close()


def environ(ssm: FakeSSM, **extra: str) -> dict[str, str]:
    return {
        **CREDS,
        "AWS_REGION": "eu-west-1",
        "AWS_ENDPOINT_URL_SSM": ssm.url,
        "BOT_TOKEN_PARAM": "/lg/dev/token",
        "WEBHOOK_SECRET_PARAM": "/lg/dev/secret",
        "REDIS_URL_PARAM": "/lg/dev/redis",
        **extra,
    }


def test_parameter_names_become_values_in_one_call(ssm: FakeSSM) -> None:
    resolved = resolve_parameters(environ(ssm))

    assert resolved["BOT_TOKEN"] == "123:abc"
    assert resolved["WEBHOOK_SECRET"] == "s3"
    assert resolved["REDIS_URL"] == "redis://x"
    [request] = ssm.requests
    assert request["body"] == {
        "Names": ["/lg/dev/redis", "/lg/dev/secret", "/lg/dev/token"],
        "WithDecryption": True,
    }
    assert request["headers"]["X-Amz-Target"] == "AmazonSSM.GetParameters"
    assert request["headers"]["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKID")


def test_values_set_directly_win_and_need_no_call(ssm: FakeSSM) -> None:
    env = environ(ssm, BOT_TOKEN="1:direct", WEBHOOK_SECRET="d", REDIS_URL="redis://d")

    assert resolve_parameters(env)["BOT_TOKEN"] == "1:direct"
    assert ssm.requests == []


def test_a_missing_parameter_is_named(ssm: FakeSSM) -> None:
    with pytest.raises(ParameterError, match="SSM has no parameter /lg/dev/nope"):
        resolve_parameters(environ(ssm, BOT_TOKEN_PARAM="/lg/dev/nope"))


def test_access_denied_is_reported_with_the_reason(ssm: FakeSSM) -> None:
    with pytest.raises(ParameterError, match="400 AccessDeniedException: not allowed"):
        resolve_parameters(environ(ssm, AWS_ACCESS_KEY_ID="DENIED"))


def test_without_credentials_it_says_what_to_set() -> None:
    with pytest.raises(ParameterError, match="AWS_REGION, AWS_ACCESS_KEY_ID"):
        resolve_parameters({"BOT_TOKEN_PARAM": "/x"})


def test_an_unreachable_endpoint_is_reported(ssm: FakeSSM) -> None:
    url = ssm.url
    ssm.close()
    with pytest.raises(ParameterError, match="cannot reach SSM"):
        resolve_parameters(environ(ssm, AWS_ENDPOINT_URL_SSM=url))
