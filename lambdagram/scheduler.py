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

from lambdagram.aws_http import SignedClient, Unreachable, error_of
from lambdagram.failures import ServiceError

TIMEOUT = 5.0


class SchedulerError(ServiceError):
    """EventBridge Scheduler did not take the request; ``kind`` is its error's type."""

    def __init__(self, message: str, kind: str = "", status: int = 0) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status


class Scheduler:
    """One schedule group of EventBridge Scheduler; the HTTP session is made on first use."""

    def __init__(self, group: str, environ: Mapping[str, str]) -> None:
        self.group = group
        self._client = SignedClient("scheduler", environ, timeout=TIMEOUT)
        self.endpoint = self._client.endpoint

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
        try:
            status, answer = await self._client.request(
                method, url, {"Content-Type": "application/json"}, payload
            )
        except Unreachable as error:
            raise SchedulerError(str(error)) from None
        if not 200 <= status < 300:
            kind, detail = error_of(answer)
            msg = f"EventBridge Scheduler refused {method} {path}: {status} {kind} {detail}"
            raise SchedulerError(msg.rstrip(), kind, status)
        return answer

    async def close(self) -> None:
        await self._client.close()


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
