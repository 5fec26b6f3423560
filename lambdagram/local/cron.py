"""EventBridge's six-field cron expressions, for the stand-in Scheduler to fire recurring timers.

``minutes hours day-of-month month day-of-week year``, each ``*``, ``?``, a number or name, a
range ``a-b``, a step ``*/n`` or ``a-b/n``, or a comma list of those; day-of-week runs 1-7 from
Sunday (``SUN``-``SAT``), and one of the two day fields is ``?``. ``L``, ``W`` and ``#`` are
EventBridge's too but not played here (`CronError` says so). Times are wall-clock times in the
schedule's timezone, so 09:00 stays 09:00 across a daylight-saving change. Never deployed.
"""

from __future__ import annotations

import datetime
import zoneinfo
from dataclasses import dataclass

_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
_DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
MOST_MINUTES = 400 * 24 * 60  # the longest stretch looked through at once


class CronError(ValueError):
    """An expression the stand-in cannot play; the message says which part."""


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int] | None  # None: ``?``
    months: frozenset[int]
    weekdays: frozenset[int] | None  # 1-7 from Sunday; None: ``?``
    years: frozenset[int] | None  # None: ``*``
    zone: zoneinfo.ZoneInfo

    @classmethod
    def parse(cls, expression: str, timezone: str = "UTC") -> Cron:
        """``cron(...)`` or its six fields, in ``timezone`` (an IANA name)."""
        body = expression.strip().removeprefix("cron(").removesuffix(")")
        fields = body.split()
        if len(fields) != 6:
            msg = f"cron({body}) needs six fields (minutes hours day month weekday year)"
            raise CronError(msg)
        minute, hour, day, month, weekday, year = fields
        try:
            zone = zoneinfo.ZoneInfo(timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise CronError(f"unknown timezone {timezone!r}") from None
        return cls(
            minutes=_field(minute, 0, 59),
            hours=_field(hour, 0, 23),
            days=None if day == "?" else _field(day, 1, 31),
            months=_field(month, 1, 12, _MONTHS),
            weekdays=None if weekday == "?" else _field(weekday, 1, 7, _DAYS),
            years=None if year == "*" else _field(year, 1970, 2199),
            zone=zone,
        )

    def matches(self, moment: datetime.datetime) -> bool:
        local = moment.astimezone(self.zone)
        weekday = (local.weekday() + 1) % 7 + 1  # Monday (0) is 2, Sunday (6) is 1
        return (
            local.minute in self.minutes
            and local.hour in self.hours
            and local.month in self.months
            and (self.days is None or local.day in self.days)
            and (self.weekdays is None or weekday in self.weekdays)
            and (self.years is None or local.year in self.years)
        )

    def between(
        self, after: datetime.datetime, until: datetime.datetime
    ) -> list[datetime.datetime]:
        """The firings after ``after`` up to ``until`` (aware times), in UTC."""
        start = after.astimezone(datetime.UTC).replace(second=0, microsecond=0)
        minutes = int((until - start).total_seconds() // 60)
        if minutes > MOST_MINUTES:
            msg = f"{minutes} minutes at once is more than the stand-in looks through"
            raise CronError(msg)
        found = []
        for n in range(1, minutes + 1):
            moment = start + datetime.timedelta(minutes=n)
            if moment > after and self.matches(moment):
                found.append(moment)
        return found


def _field(text: str, low: int, high: int, names: list[str] | None = None) -> frozenset[int]:
    values: set[int] = set()
    for item in text.split(","):
        spec, _, step_text = item.partition("/")
        step = _number(step_text, 1, high, None) if step_text else 1
        if spec in {"*", "?"}:
            first, last = low, high
        elif "-" in spec:
            a, _, b = spec.partition("-")
            first, last = _number(a, low, high, names), _number(b, low, high, names)
        else:
            first = _number(spec, low, high, names)
            last = high if step_text else first
        values.update(range(first, last + 1, step))
    return frozenset(values)


def _number(text: str, low: int, high: int, names: list[str] | None) -> int:
    upper = text.upper()
    if names and upper in names:
        return names.index(upper) + low
    if not upper.isdigit() or not low <= int(upper) <= high:
        msg = f"{text!r} is not a value from {low} to {high} the stand-in can play"
        raise CronError(msg)
    return int(upper)
