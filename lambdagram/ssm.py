"""Secrets from SSM Parameter Store at cold start, without boto3.

The deployed function gets parameter *names* (``BOT_TOKEN_PARAM=/lambdagram/prod/bot-token``)
and reads the SecureString values once, in the init phase, with one signed
``GetParameters`` call over HTTPS. boto3 would do the same in ~0.25 s and ~40 MB of RSS on
every cold start; this is the standard AWS Signature Version 4 over the standard library.
Credentials come from the environment, as Lambda provides them; ``AWS_ENDPOINT_URL_SSM``
or ``AWS_ENDPOINT_URL`` point it elsewhere (LocalStack).
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from urllib.parse import urlsplit

PARAM_SUFFIX = "_PARAM"
SECRETS = ("BOT_TOKEN", "WEBHOOK_SECRET", "REDIS_URL")
TIMEOUT = 5.0


class ParameterError(RuntimeError):
    """A parameter could not be read; the message says which and why."""


def resolve_parameters(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` with each ``<NAME>_PARAM`` replaced by the parameter's value as ``<NAME>``.

    A variable set directly wins over its ``_PARAM`` twin (local runs, tests).
    """
    resolved = dict(environ)
    wanted = {
        name: environ[name + PARAM_SUFFIX]
        for name in SECRETS
        if environ.get(name + PARAM_SUFFIX) and not environ.get(name)
    }
    if wanted:
        values = get_parameters(sorted(set(wanted.values())), environ)
        for name, parameter in wanted.items():
            resolved[name] = values[parameter]
    return resolved


def get_parameters(names: list[str], environ: Mapping[str, str]) -> dict[str, str]:
    """Decrypted values of SSM parameters ``names`` (at most 10), by name."""
    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
    key, secret = environ.get("AWS_ACCESS_KEY_ID"), environ.get("AWS_SECRET_ACCESS_KEY")
    if not region or not key or not secret:
        msg = (
            f"cannot read SSM parameters {', '.join(names)}: AWS_REGION, AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY must be set (Lambda sets them; locally, set the values "
            "directly instead: BOT_TOKEN, WEBHOOK_SECRET, REDIS_URL)"
        )
        raise ParameterError(msg)
    endpoint = (
        environ.get("AWS_ENDPOINT_URL_SSM")
        or environ.get("AWS_ENDPOINT_URL")
        or f"https://ssm.{region}.amazonaws.com"
    ).rstrip("/") + "/"
    body = json.dumps({"Names": names, "WithDecryption": True}).encode()
    headers = {
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "AmazonSSM.GetParameters",
    }
    token = environ.get("AWS_SESSION_TOKEN")
    signed = sign_v4("POST", endpoint, headers, body, (key, secret, token), region, "ssm")
    request = urllib.request.Request(endpoint, data=body, headers=signed, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as error:
        detail = _error_detail(error.read())
        msg = f"SSM refused GetParameters for {', '.join(names)}: {error.code} {detail}"
        raise ParameterError(msg) from None
    except (urllib.error.URLError, TimeoutError) as error:
        msg = f"cannot reach SSM at {endpoint} to read {', '.join(names)}: {error}"
        raise ParameterError(msg) from None
    if answer.get("InvalidParameters"):
        missing = ", ".join(answer["InvalidParameters"])
        msg = (
            f"SSM has no parameter {missing}: create it with "
            "`aws ssm put-parameter --type SecureString --name ... --value ...`"
        )
        raise ParameterError(msg)
    return {item["Name"]: item["Value"] for item in answer.get("Parameters", [])}


def sign_v4(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    credentials: tuple[str, str, str | None],
    region: str,
    service: str,
    now: datetime.datetime | None = None,
) -> dict[str, str]:
    """``headers`` plus Host, X-Amz-Date, X-Amz-Security-Token and a SigV4 Authorization."""
    key, secret, token = credentials
    now = now or datetime.datetime.now(datetime.UTC)
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    parts = urlsplit(url)
    out = {**headers, "Host": parts.netloc, "X-Amz-Date": amz_date}
    if token:
        out["X-Amz-Security-Token"] = token
    canonical_headers = sorted(
        (name.lower(), " ".join(value.split())) for name, value in out.items()
    )
    signed_headers = ";".join(name for name, _ in canonical_headers)
    canonical_request = "\n".join(
        [
            method,
            parts.path or "/",
            parts.query,
            "".join(f"{name}:{value}\n" for name, value in canonical_headers),
            signed_headers,
            hashlib.sha256(body).hexdigest(),
        ]
    )
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            amz_date,
            scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    signing_key = f"AWS4{secret}".encode()
    for part in (day, region, service, "aws4_request"):
        signing_key = hmac.new(signing_key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(signing_key, to_sign.encode(), hashlib.sha256).hexdigest()
    out["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={key}/{scope}, "
        f"SignedHeaders={signed_headers}, Signature={signature}"
    )
    return out


def _error_detail(body: bytes) -> str:
    try:
        decoded = json.loads(body)
    except ValueError:
        return body.decode(errors="replace")[:200]
    kind = str(decoded.get("__type", "")).rpartition("#")[2]
    return f"{kind}: {decoded.get('message') or decoded.get('Message') or ''}".strip()
