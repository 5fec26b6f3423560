"""One AWS service's JSON API over aiohttp, SigV4-signed: what the SQS and Scheduler clients
share (no boto3: ~0.25 s and ~40 MB less at every cold start).

The endpoint follows the AWS SDKs' standard variables: ``AWS_ENDPOINT_URL_<SERVICE>``, then
``AWS_ENDPOINT_URL``, else ``https://<service>.<region>.amazonaws.com``; credentials come from
the environment, as Lambda provides them. One keep-alive session, made on first use.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import aiohttp

from lambdagram.ssm import sign_v4


class Unreachable(RuntimeError):
    """No answer from the service (connection refused, timeout); the message says where."""


class SignedClient:
    """Signed requests to one AWS service."""

    def __init__(
        self, service: str, environ: Mapping[str, str], region: str = "", timeout: float = 5.0
    ) -> None:
        """``region``: the one to use when the environment names none."""
        self.service = service
        self.region = (
            environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or region or "us-east-1"
        )
        self.endpoint = (
            environ.get(f"AWS_ENDPOINT_URL_{service.upper()}")
            or environ.get("AWS_ENDPOINT_URL")
            or f"https://{service}.{self.region}.amazonaws.com"
        ).rstrip("/")
        self._credentials = (
            environ.get("AWS_ACCESS_KEY_ID", ""),
            environ.get("AWS_SECRET_ACCESS_KEY", ""),
            environ.get("AWS_SESSION_TOKEN"),
        )
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def request(
        self, method: str, url: str, headers: dict[str, str], body: bytes = b""
    ) -> tuple[int, dict[str, Any]]:
        """The status and the JSON object of the answer (``{}`` if it is not one)."""
        signed = sign_v4(method, url, headers, body, self._credentials, self.region, self.service)
        if self._session is None or self._session.closed:
            timeout = aiohttp.ClientTimeout(total=self._timeout)
            self._session = aiohttp.ClientSession(timeout=timeout)
        try:
            async with self._session.request(
                method, url, data=body or None, headers=signed
            ) as answer:
                status, text = answer.status, await answer.read()
        except (aiohttp.ClientError, TimeoutError) as error:
            msg = f"cannot reach {self.service} at {self.endpoint} ({type(error).__name__})"
            raise Unreachable(msg) from None
        try:
            parsed = json.loads(text) if text else {}
        except ValueError:
            parsed = {}
        return status, parsed if isinstance(parsed, dict) else {}

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def error_of(answer: dict[str, Any]) -> tuple[str, str]:
    """An AWS JSON error's type (without its namespace) and message."""
    kind = str(answer.get("__type") or answer.get("Code") or "").rpartition("#")[2]
    return kind, str(answer.get("message") or answer.get("Message") or "")
