"""The stand-in Scheduler's cron: EventBridge's six fields, in the schedule's timezone."""

from __future__ import annotations

import datetime

import pytest

from lambdagram.local.cron import Cron, CronError

UTC = datetime.UTC


def at(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text).replace(tzinfo=UTC)


def firings(expression: str, zone: str, after: str, until: str) -> list[str]:
    found = Cron.parse(expression, zone).between(at(after), at(until))
    return [moment.strftime("%Y-%m-%dT%H:%M") for moment in found]


def test_a_daily_digest_at_nine_in_berlin_is_eight_utc_in_winter() -> None:
    found = firings("cron(0 9 * * ? *)", "Europe/Berlin", "2026-12-02T00:00", "2026-12-04T00:00")

    assert found == ["2026-12-02T08:00", "2026-12-03T08:00"]


def test_nine_stays_nine_across_the_change_to_summer_time() -> None:
    # Berlin moves its clocks forward on Sunday 29 March 2026
    assert firings("0 9 * * ? *", "Europe/Berlin", "2026-03-28T00:00", "2026-03-30T00:00") == [
        "2026-03-28T08:00",
        "2026-03-29T07:00",
    ]


def test_weekdays_by_name_from_sunday_and_steps() -> None:
    # 2026-12-04 is a Friday, 12-05 a Saturday, 12-07 a Monday
    weekdays = firings("0 9 ? * MON-FRI *", "UTC", "2026-12-04T00:00", "2026-12-08T00:00")
    sundays = firings("30 6 ? * 1 *", "UTC", "2026-12-01T00:00", "2026-12-15T00:00")
    quarters = firings("*/15 10 * * ? *", "UTC", "2026-12-02T09:59", "2026-12-02T11:00")

    assert weekdays == ["2026-12-04T09:00", "2026-12-07T09:00"]
    assert sundays == ["2026-12-06T06:30", "2026-12-13T06:30"]
    assert quarters == [
        "2026-12-02T10:00",
        "2026-12-02T10:15",
        "2026-12-02T10:30",
        "2026-12-02T10:45",
    ]


def test_a_firing_at_the_start_of_the_window_is_not_counted_again() -> None:
    assert firings("0 9 * * ? *", "UTC", "2026-12-02T09:00", "2026-12-03T09:00") == [
        "2026-12-03T09:00"
    ]


@pytest.mark.parametrize(
    ("expression", "zone", "says"),
    [
        ("0 9 * *", "UTC", "needs six fields"),
        ("0 9 L * ? *", "UTC", "'L' is not a value from 1 to 31"),
        ("0 25 * * ? *", "UTC", "'25' is not a value from 0 to 23"),
        ("0 9 * * ? *", "Mars/Olympus", "unknown timezone 'Mars/Olympus'"),
    ],
)
def test_what_it_cannot_play_is_named(expression: str, zone: str, says: str) -> None:
    with pytest.raises(CronError, match=says):
        Cron.parse(expression, zone)
