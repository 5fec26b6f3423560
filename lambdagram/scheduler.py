"""The timers' client: EventBridge Scheduler's REST API, SigV4-signed, on aiohttp (no boto3).

Four calls: ``CreateSchedule``, ``DeleteSchedule``, ``GetSchedule``, ``ListSchedules``, on
one schedule group. The endpoint follows the AWS SDKs' variables: ``AWS_ENDPOINT_URL_SCHEDULER``,
then ``AWS_ENDPOINT_URL``, else ``https://scheduler.<region>.amazonaws.com``; credentials come
from the environment, as Lambda provides them. Imported only by bots that use timers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp

from lambdagram.ssm import sign_v4

TIMEOUT = 5.0


class SchedulerError(RuntimeError):
    """EventBridge Scheduler did not take the request; ``kind`` is its error's type."""

    def __init__(self, message: str, kind: str = "", status: int = 0) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status


class Scheduler:
    """One schedule group of EventBridge Scheduler; the HTTP session is made on first use."""

    def __init__(self, group: str, environ: Mapping[str, str]) -> None:
        self.group = group
        self.region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or ""
        self.endpoint = (
            environ.get("AWS_ENDPOINT_URL_SCHEDULER")
            or environ.get("AWS_ENDPOINT_URL")
            or f"https://scheduler.{self.region}.amazonaws.com"
        ).rstrip("/")
        self._credentials = (
            environ.get("AWS_ACCESS_KEY_ID", ""),
            environ.get("AWS_SECRET_ACCESS_KEY", ""),
            environ.get("AWS_SESSION_TOKEN"),
        )
        self._session: aiohttp.ClientSession | None = None

    async def create(self, name: str, schedule: dict[str, Any]) -> str:
        """Create schedule ``name`` in the group; its ARN. An existing one of that name is a
        `SchedulerError` of kind ``ConflictException``."""
        answer = await self._call("POST", f"/schedules/{quote(name, safe='')}", body=
                                  {**schedule, "GroupName": self.group})  # fmt: skip
        return str(answer.get("ScheduleArn", ""))

    async def delete(self, name: str) -> bool:
        """Delete schedule ``name``; False if there was none."""
        try:
            await self._call(
                "DELETE", f"/schedules/{quote(name, safe='')}", query={"groupName": self.group}
            )
        except SchedulerError as error:
            if error.kind == "ResourceNotFoundException":
                return False
            raise
        return True

    async def get(self, name: str) -> dict[str, Any] | None:
        """Schedule ``name`` as the API describes it, or None."""
        try:
            return await self._call(
                "GET", f"/schedules/{quote(name, safe='')}", query={"groupName": self.group}
            )
        except SchedulerError as error:
            if error.kind == "ResourceNotFoundException":
                return None
            raise

    async def names(self, prefix: str) -> list[str]:
        """The names of the group's schedules that start with ``prefix``."""
        found: list[str] = []
        token: str | None = None
        while True:
            query = {"ScheduleGroup": self.group, "NamePrefix": prefix, "MaxResults": "100"}
            if token:
                query["NextToken"] = token
            answer = await self._call("GET", "/schedules", query=query)
            found.extend(str(s["Name"]) for s in answer.get("Schedules", []))
            token = answer.get("NextToken")
            if not token:
                return found

    async def _call(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        encoded = urlencode(sorted((query or {}).items()), quote_via=quote)  # SigV4: sorted
        url = self.endpoint + path + (f"?{encoded}" if encoded else "")
        payload = json.dumps(body).encode() if body is not None else b""
        headers = {"Content-Type": "application/json"}
        signed = sign_v4(
            method, url, headers, payload, self._credentials, self.region, "scheduler"
        )
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT))
        try:
            async with self._session.request(
                method, url, data=payload or None, headers=signed
            ) as r:
                status, text = r.status, await r.read()
        except (aiohttp.ClientError, TimeoutError) as error:
            msg = f"cannot reach EventBridge Scheduler at {self.endpoint} ({type(error).__name__})"
            raise SchedulerError(msg) from None
        try:
            parsed = json.loads(text) if text else {}
        except ValueError:
            parsed = {}
        if not 200 <= status < 300:
            kind = str(parsed.get("__type") or parsed.get("Code") or "").rpartition("#")[2]
            detail = parsed.get("Message") or parsed.get("message") or ""
            msg = f"EventBridge Scheduler refused {method} {path}: {status} {kind} {detail}"
            raise SchedulerError(msg.rstrip(), kind, status)
        return parsed if isinstance(parsed, dict) else {}

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class SchedulerBackend:
    """Timers (`lambdagram.timers`) kept as schedules of one group: each invokes ``target``
    (the function's ARN) with the job's event, as ``role`` (the role Scheduler assumes), with
    Scheduler's retries and, if given, a dead-letter queue; a one-time one deletes itself."""

    def __init__(
        self, scheduler: Scheduler, target: str, role: str, dead_letters: str = ""
    ) -> None:
        self.scheduler = scheduler
        self.target = target
        self.role = role
        self.dead_letters = dead_letters

    async def create(self, name: str, expression: str, timezone: str, payload: str) -> None:
        target: dict[str, Any] = {
            "Arn": self.target,
            "RoleArn": self.role,
            "Input": payload,
            "RetryPolicy": {"MaximumRetryAttempts": 5, "MaximumEventAgeInSeconds": 3600},
        }
        if self.dead_letters:
            target["DeadLetterConfig"] = {"Arn": self.dead_letters}
        schedule: dict[str, Any] = {
            "ScheduleExpression": expression,
            "ScheduleExpressionTimezone": timezone,
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "Target": target,
            "State": "ENABLED",
        }
        if expression.startswith("at("):
            schedule["ActionAfterCompletion"] = "DELETE"
        try:
            await self.scheduler.create(name, schedule)
        except SchedulerError as error:
            if error.kind != "ConflictException":  # made by an earlier try of the same update
                raise

    async def delete(self, name: str) -> bool:
        return await self.scheduler.delete(name)

    async def names(self, prefix: str) -> list[str]:
        return await self.scheduler.names(prefix)

    async def close(self) -> None:
        await self.scheduler.close()
