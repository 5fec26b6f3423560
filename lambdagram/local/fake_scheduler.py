"""A stand-in for EventBridge Scheduler, for the local tools (chat, dev): it keeps the
schedules the function creates and fires them when they are due.

It speaks the calls `lambdagram.scheduler` makes (``CreateSchedule``, ``DeleteSchedule``,
``GetSchedule``, ``ListSchedules``: Scheduler's REST API, errors in its shapes) on loopback,
and `due` hands back the events of the schedules whose time has come, with
``<aws.scheduler.scheduled-time>`` filled in: each ``at(...)`` once (deleting those marked to
delete themselves), each ``cron(...)`` once per firing since it was made or last looked at,
in its timezone (`lambdagram.local.cron`). The caller invokes the function with each, as
Scheduler would. Never deployed.
"""

from __future__ import annotations

import datetime
import json
import threading
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from lambdagram.local.cron import Cron, CronError
from lambdagram.local.servers import JSONRequestHandler, LoopbackHTTPServer

SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"  # lambdagram.timers' (not imported: its logger)

GROUP = "local"


class FakeScheduler(LoopbackHTTPServer):
    """One schedule group on loopback."""

    def __init__(self) -> None:
        self.schedules: dict[str, dict[str, Any]] = {}
        self._looked: dict[str, datetime.datetime] = {}  # a recurring one: fired up to then
        self._lock = threading.Lock()
        self._failing: tuple[int, str, int | None] | None = None
        fake = self

        class Handler(JSONRequestHandler):
            def do_POST(self) -> None:
                self._answer("POST")

            def do_GET(self) -> None:
                self._answer("GET")

            def do_DELETE(self) -> None:  # noqa: N802 - http.server's name
                self._answer("DELETE")

            def _answer(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                status, answer = fake.answer(method, self.path, body)
                self.reply_json(status, answer)

        super().__init__(Handler)

    @property
    def url(self) -> str:
        """The endpoint for ``AWS_ENDPOINT_URL_SCHEDULER``."""
        return f"http://127.0.0.1:{self.port}"

    def fail(self, status: int, kind: str, times: int | None = None) -> None:
        """Answer the next ``times`` calls (every call: None) with Scheduler's error ``kind``
        (``AccessDeniedException`` 403, ``ThrottlingException`` 429, ...)."""
        with self._lock:
            self._failing = (status, kind, times)

    def mend(self) -> None:
        """Answer as Scheduler does again (the permission granted, the throttling over)."""
        with self._lock:
            self._failing = None

    def answer(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Scheduler's answer to one call."""
        with self._lock:
            if self._failing is not None:
                status, kind, times = self._failing
                left = None if times is None else times - 1
                self._failing = None if left == 0 else (status, kind, left)
                return status, _error(kind, f"{kind} (the fake scheduler's planned failure)")
        parts = urlsplit(path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        segments = [unquote(s) for s in parts.path.strip("/").split("/")]
        with self._lock:
            if segments == ["schedules"] and method == "GET":
                prefix = query.get("NamePrefix", "")
                names = sorted(n for n in self.schedules if n.startswith(prefix))
                return 200, {"Schedules": [{"Name": n, "GroupName": GROUP} for n in names]}
            if len(segments) != 2 or segments[0] != "schedules":
                return 404, _error("ResourceNotFoundException", f"no such path {parts.path}")
            name = segments[1]
            if method == "POST":
                if name in self.schedules:
                    return 409, _error("ConflictException", f"Schedule {name} already exists.")
                expression = str(body.get("ScheduleExpression", ""))
                if expression.startswith("cron("):
                    try:
                        Cron.parse(expression, str(body.get("ScheduleExpressionTimezone", "UTC")))
                    except CronError as error:
                        return 400, _error("ValidationException", str(error))
                    self._looked[name] = datetime.datetime.now(datetime.UTC)
                self.schedules[name] = {"Name": name, **body}
                return 200, {"ScheduleArn": f"arn:aws:scheduler:local:0:schedule/{GROUP}/{name}"}
            if name not in self.schedules:
                return 404, _error("ResourceNotFoundException", f"Schedule {name} does not exist.")
            if method == "DELETE":
                del self.schedules[name]
                self._looked.pop(name, None)
                return 200, {}
            return 200, dict(self.schedules[name])

    def due(self, now: datetime.datetime | None = None) -> list[dict[str, Any]]:
        """The events of the one-time schedules due at ``now``; those are taken off."""
        now = now or datetime.datetime.now(datetime.UTC)
        firings: list[tuple[datetime.datetime, str, dict[str, Any]]] = []
        with self._lock:
            for name, schedule in list(self.schedules.items()):
                expression = str(schedule.get("ScheduleExpression", ""))
                if name in self._looked:
                    zone = str(schedule.get("ScheduleExpressionTimezone", "UTC"))
                    times = Cron.parse(expression, zone).between(self._looked[name], now)
                    self._looked[name] = max(now, self._looked[name])
                    firings.extend((when, name, schedule) for when in times)
                    continue
                when = _at(expression)
                if when is None or when > now:
                    continue
                firings.append((when, name, schedule))
                if schedule.get("ActionAfterCompletion") == "DELETE":
                    del self.schedules[name]
        firings.sort(key=lambda firing: (firing[0], firing[1]))
        return [_event(schedule, when) for when, _, schedule in firings]

    def next_due(self) -> datetime.datetime | None:
        """When the next one-time schedule is due, if any."""
        with self._lock:
            times = [_at(str(s.get("ScheduleExpression", ""))) for s in self.schedules.values()]
        return min((t for t in times if t is not None), default=None)


def _event(schedule: dict[str, Any], when: datetime.datetime) -> dict[str, Any]:
    stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    event: dict[str, Any] = json.loads(schedule["Target"]["Input"].replace(SCHEDULED_TIME, stamp))
    return event


def _at(expression: str) -> datetime.datetime | None:
    if not (expression.startswith("at(") and expression.endswith(")")):
        return None
    return datetime.datetime.fromisoformat(expression[3:-1]).replace(tzinfo=datetime.UTC)


def _error(kind: str, message: str) -> dict[str, Any]:
    return {"__type": kind, "Message": message}


def environment(fake: FakeScheduler) -> dict[str, str]:
    """The variables that point the function's timers at ``fake``."""
    return {
        "TIMERS_GROUP": GROUP,
        "TIMERS_TARGET_ARN": "arn:aws:lambda:local:000000000000:function:local",
        "TIMERS_ROLE_ARN": "arn:aws:iam::000000000000:role/local-timers",
        "AWS_ENDPOINT_URL_SCHEDULER": fake.url,
    }
