"""Work that must run after this invocation has answered: an asynchronous self-invocation.

Telegram delivers a chat's updates one at a time, each only after the previous one was
answered, so nothing that waits for a *later* update of the chat may hold up the answer
(an album's parts are such updates). The function asks Lambda to invoke it again with an
internal event (``InvocationType: Event``: Lambda queues it, answers 202 at once, runs it on
another instance, and retries it twice if it fails). One SigV4-signed POST over the standard
library, as for SSM; ``lambda:InvokeFunction`` on itself is in ``serverless.yml``.

Where there is no Lambda (local tools) nothing is deferred and the caller does the work
itself (`available` says which).
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from lambdagram.observability import Metric, count, logger
from lambdagram.ssm import sign_v4

INTERNAL_KEY = "lambdagram"  # an internal event is {"lambdagram": {...}}; no AWS event has it
TIMEOUT = 3.0
REFUSED_PAUSE = 300.0
"""Seconds this process stops asking after Lambda refused (or could not be reached): each
ask that fails would hold a webhook answer up to `TIMEOUT`."""
_refused_until = 0.0


class DeferError(RuntimeError):
    """Lambda did not accept the asynchronous invocation."""


def available(environ: Mapping[str, str]) -> bool:
    """Whether this process can invoke its own function (it runs on Lambda or LocalStack)."""
    return bool(environ.get("AWS_LAMBDA_FUNCTION_NAME") and environ.get("AWS_REGION"))


async def defer(payload: dict[str, Any], environ: Mapping[str, str]) -> bool:
    """Queue ``payload`` for an asynchronous invocation if Lambda takes it; False if the caller
    must do the work itself (no Lambda here, or it refused lately: said once, and counted)."""
    global _refused_until
    if not available(environ) or time.monotonic() < _refused_until:
        return False
    try:
        await invoke_self(payload, environ)
    except DeferError as error:
        _refused_until = time.monotonic() + REFUSED_PAUSE
        count(Metric.DEFER_REFUSED)
        logger.error(
            f"cannot queue work for later: {error}; doing it at once for the next "
            f"{REFUSED_PAUSE:g} s (an album becomes one album per part): check the function's "
            "lambda:InvokeFunction permission on itself",
            extra={"alert": "defer"},
        )
        return False
    return True


async def invoke_self(payload: dict[str, Any], environ: Mapping[str, str]) -> None:
    """Queue ``{"lambdagram": payload}`` as an asynchronous invocation of this function."""
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, _invoke, {INTERNAL_KEY: payload}, dict(environ))


def _invoke(event: dict[str, Any], environ: Mapping[str, str]) -> None:
    region = environ["AWS_REGION"]
    name = environ["AWS_LAMBDA_FUNCTION_NAME"]
    endpoint = (
        environ.get("AWS_ENDPOINT_URL_LAMBDA")
        or environ.get("AWS_ENDPOINT_URL")
        or f"https://lambda.{region}.amazonaws.com"
    ).rstrip("/")
    url = f"{endpoint}/2015-03-31/functions/{quote(name, safe='')}/invocations"
    body = json.dumps(event).encode()
    headers = {"Content-Type": "application/json", "X-Amz-Invocation-Type": "Event"}
    credentials = (
        environ.get("AWS_ACCESS_KEY_ID", ""),
        environ.get("AWS_SECRET_ACCESS_KEY", ""),
        environ.get("AWS_SESSION_TOKEN"),
    )
    signed = sign_v4("POST", url, headers, body, credentials, region, "lambda")
    request = urllib.request.Request(url, data=body, headers=signed, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        msg = f"Lambda refused the asynchronous invocation of {name}: {error.code}"
        raise DeferError(msg) from None
    except (urllib.error.URLError, TimeoutError) as error:
        msg = f"cannot reach Lambda at {endpoint}: {error}"
        raise DeferError(msg) from None
    if status != 202:
        msg = f"Lambda answered {status} to an asynchronous invocation of {name}"
        raise DeferError(msg)
