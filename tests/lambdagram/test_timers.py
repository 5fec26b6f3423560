"""Timers: a handler schedules a job in EventBridge Scheduler; the job runs once per firing.

Real parts: moto's EventBridge Scheduler server (the schedules the function creates, read back
with botocore), redis-server, the fake Bot API. A firing is what Scheduler does: the
schedule's target input, its ``<aws.scheduler.scheduled-time>`` filled in, handed to the
function as an asynchronous invocation would.
"""

from __future__ import annotations

import datetime
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from botocore.config import Config
from botocore.session import Session

from lambdagram.local.events import LambdaContext, message_update
from lambdagram.local.fake_scheduler import FakeScheduler, environment
from lambdagram.local.fake_telegram import FakeTelegram
from lambdagram.testing import BotUnderTest
from lambdagram.timers import SCHEDULED_TIME, Target, job_event

from tests.conftest import handler_client
from tests.support.sqs import CREDENTIALS, REGION, MotoServer
from tests.support.webhook import WebhookClient

BOT = "tests.support.bots.reminders"
GROUP = "lambdagram-test-timers"
FUNCTION = "arn:aws:lambda:eu-west-1:123456789012:function:lambdagram-test-webhook"
ROLE = "arn:aws:iam::123456789012:role/lambdagram-test-timers"


@pytest.fixture
def scheduler(moto: MotoServer) -> Any:
    moto.reset()
    client = Session().create_client(
        "scheduler",
        region_name=REGION,
        endpoint_url=moto.url,
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        config=Config(retries={"max_attempts": 1}),
    )
    client.create_schedule_group(Name=GROUP)
    return client


@pytest.fixture
def bot(
    bot_env: dict[str, str],
    moto: MotoServer,
    scheduler: Any,
    telegram: FakeTelegram,
    monkeypatch: pytest.MonkeyPatch,
    redis_client: redis.Redis,
) -> Iterator[WebhookClient]:
    env = {
        **bot_env,
        **CREDENTIALS,
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL_SCHEDULER": moto.url,
        "TIMERS_GROUP": GROUP,
        "TIMERS_TARGET_ARN": FUNCTION,
        "TIMERS_ROLE_ARN": ROLE,
    }
    yield from handler_client(env, telegram, monkeypatch, BOT)


def schedule(scheduler: Any, name: str) -> dict[str, Any]:
    found: dict[str, Any] = scheduler.get_schedule(Name=name, GroupName=GROUP)
    return found


def fire(bot: WebhookClient, scheduler: Any, name: str, at: str) -> dict[str, Any]:
    """What Scheduler does at ``at``: invoke the target with its input, the time filled in."""
    payload = schedule(scheduler, name)["Target"]["Input"].replace(SCHEDULED_TIME, at)
    answer: dict[str, Any] = bot.handler(json.loads(payload), LambdaContext())
    return answer


def texts(telegram: FakeTelegram) -> list[str]:
    return [str(c.params["text"]) for c in telegram.calls_to("sendMessage")]


def test_a_reminder_is_a_one_time_schedule_that_deletes_itself_and_invokes_the_function(
    bot: WebhookClient, scheduler: Any
) -> None:
    before = datetime.datetime.now(datetime.UTC)
    reply = bot.say("/remind 120")
    timer = reply.text.split()[1]

    made = schedule(scheduler, timer)
    assert timer.startswith("c1001-u")
    assert made["ActionAfterCompletion"] == "DELETE"
    assert made["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert made["ScheduleExpressionTimezone"] == "UTC"
    when = datetime.datetime.fromisoformat(made["ScheduleExpression"][3:-1]).replace(
        tzinfo=datetime.UTC
    )
    assert 115 <= (when - before).total_seconds() <= 125
    assert made["Target"]["Arn"] == FUNCTION
    assert made["Target"]["RoleArn"] == ROLE
    assert made["Target"]["RetryPolicy"]["MaximumRetryAttempts"] >= 1
    job = json.loads(made["Target"]["Input"])["lambdagram"]["job"]
    assert (job["name"], job["chat_id"], job["data"], job["at"]) == (
        "reminder",
        1001,
        {"text": "Time's up!"},
        SCHEDULED_TIME,
    )


def test_a_fired_reminder_runs_once_with_the_chats_state_and_commits_what_it_changed(
    bot: WebhookClient, scheduler: Any, telegram: FakeTelegram, redis_client: redis.Redis
) -> None:
    timer = bot.say("/remind 60").text.split()[1]
    at = "2026-12-02T10:00:00Z"

    first = fire(bot, scheduler, timer, at)
    again = fire(bot, scheduler, timer, at)  # Scheduler delivers at least once

    assert first == {"ok": True, "job": "reminder"}
    assert again == {"ok": True, "duplicate": True}
    assert texts(telegram) == ["Time's up! (state Reminding:waiting)"]
    assert redis_client.keys("fsm:*1001*") == []  # the job's state.clear() was committed


def test_a_daily_digest_fires_in_the_users_timezone_once_per_day(
    bot: WebhookClient, scheduler: Any, telegram: FakeTelegram
) -> None:
    timer = bot.say("/daily").text.split()[1]

    made = schedule(scheduler, timer)
    assert made["ScheduleExpression"] == "cron(0 9 * * ? *)"
    assert made["ScheduleExpressionTimezone"] == "Europe/Berlin"
    assert "ActionAfterCompletion" not in made or made["ActionAfterCompletion"] == "NONE"
    for at in ("2026-12-02T08:00:00Z", "2026-12-03T08:00:00Z", "2026-12-03T08:00:00Z"):
        fire(bot, scheduler, timer, at)
    assert texts(telegram) == [
        "digest for 2026-12-02T08:00:00Z",
        "digest for 2026-12-03T08:00:00Z",
    ]


def test_a_retried_update_makes_the_same_timer_not_a_second_one(
    bot: WebhookClient, scheduler: Any, redis_client: redis.Redis
) -> None:
    update = message_update("/remind 60")
    first = bot.post(update).text
    for key in redis_client.keys("lg:*:update:*"):  # as if the commit had been lost
        redis_client.delete(key)
    second = bot.post(update).text

    assert first == second
    assert bot.say("/timers").text == first.split()[1]


def test_a_timer_can_be_listed_and_cancelled_by_its_chat_only(
    bot: WebhookClient, scheduler: Any
) -> None:
    timer = bot.say("/remind 60").text.split()[1]
    assert bot.say("/timers").text == timer
    assert bot.say("/timers", chat_id=2002).text == "none"

    assert bot.say("/forget").text == "cancelled: True"
    assert bot.say("/timers").text == "none"


def test_a_timer_of_a_job_the_bot_no_longer_has_is_refused_not_retried(
    bot: WebhookClient, caplog: pytest.LogCaptureFixture
) -> None:
    event = {"lambdagram": {"job": {"name": "gone", "timer": "c1-u1-1", "chat_id": 1, "at": "t"}}}

    answer = bot.handler(event, LambdaContext())

    assert answer["error"] == "bad_internal_event"
    assert "no job named 'gone'" in answer["description"]
    assert "internal event refused" in caplog.text


def test_without_a_scheduler_a_timer_is_a_handler_error_that_says_what_to_set(
    bot_env: dict[str, str],
    telegram: FakeTelegram,
    monkeypatch: pytest.MonkeyPatch,
    redis_client: redis.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for client in handler_client(bot_env, telegram, monkeypatch, BOT):
        assert client.say("/remind 5").body == {"ok": True, "handled": False}
    assert "timers need a scheduler" in caplog.text


def test_the_local_stand_in_fills_in_the_time_scheduler_fills_in() -> None:
    from lambdagram.local import fake_scheduler

    assert fake_scheduler.SCHEDULED_TIME == SCHEDULED_TIME


@pytest.fixture
def reminders_app(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAMBDAGRAM_APP", "tests.support.bots.reminders:app")


def test_the_testing_kit_fires_a_daily_timer_once_a_day_in_the_users_timezone(
    reminders_app: None, telegram_bot: BotUnderTest
) -> None:
    chat = telegram_bot.chat()
    chat.send("/daily")

    days = [telegram_bot.pass_time(hours=24)[chat.chat_id] for _ in range(2)]

    assert [len(day) for day in days] == [1, 1]  # each delivered twice, run once
    assert all(text.startswith("digest for ") and text.endswith("T08:00:00Z") for text in days[0])


def test_the_testing_kit_keeps_the_real_clock_running_under_the_time_it_lets_pass(
    reminders_app: None, telegram_bot: BotUnderTest
) -> None:
    """A timer made a while after the kit started (a cold start, a slow machine) is due
    when its own delay has passed, not that delay after the kit started."""
    chat = telegram_bot.chat()
    time.sleep(1.1)  # past a whole second: the timer's time is kept to the second
    assert "set" in chat.send("/remind 600").text

    [sent] = telegram_bot.pass_time(minutes=10)[chat.chat_id]  # fired twice, run once
    assert sent.startswith("Time's up!")


# ---- When Scheduler says no: the step is given back, never dropped ------------------------


@pytest.fixture
def failing_scheduler() -> Iterator[FakeScheduler]:
    with FakeScheduler() as fake:
        yield fake


@pytest.fixture
def bot_on_the_stand_in(
    bot_env: dict[str, str],
    failing_scheduler: FakeScheduler,
    telegram: FakeTelegram,
    monkeypatch: pytest.MonkeyPatch,
    redis_client: redis.Redis,
) -> Iterator[WebhookClient]:
    env = {**bot_env, **CREDENTIALS, "AWS_REGION": REGION, **environment(failing_scheduler)}
    yield from handler_client(env, telegram, monkeypatch, BOT)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (403, "AccessDeniedException"),  # the role lacks scheduler:CreateSchedule
        (429, "ThrottlingException"),
        (500, "InternalServerException"),
    ],
)
def test_a_timer_scheduler_refuses_gives_the_update_back_and_its_retry_sets_it(
    bot_on_the_stand_in: WebhookClient,
    failing_scheduler: FakeScheduler,
    telegram: FakeTelegram,
    status: int,
    kind: str,
) -> None:
    bot = bot_on_the_stand_in
    update = message_update("/remind 600")
    failing_scheduler.fail(status, kind)

    refused = bot.post(update)
    failing_scheduler.mend()  # the permission granted, the throttling over
    retried = bot.post(update)  # Telegram's retry of the same update

    assert refused.status == 503
    assert refused.body["error"] == "service_unavailable"
    assert kind in refused.body["description"]
    assert telegram.calls_to("sendMessage") == []  # its reply was not sent either
    assert retried.status == 200
    assert retried.text.startswith("reminder c1001-u")
    assert len(failing_scheduler.schedules) == 1


def test_an_unreachable_scheduler_gives_the_update_back(
    bot_env: dict[str, str],
    telegram: FakeTelegram,
    monkeypatch: pytest.MonkeyPatch,
    redis_client: redis.Redis,
) -> None:
    with FakeScheduler() as closed:
        env = {**bot_env, **CREDENTIALS, "AWS_REGION": REGION, **environment(closed)}
    for bot in handler_client(env, telegram, monkeypatch, BOT):
        refused = bot.say("/remind 600")

        assert refused.status == 503
        assert refused.body["error"] == "service_unavailable"


@pytest.mark.parametrize(
    ("field", "value"),
    [("data", "not an object"), ("timer", 7), ("user_id", "u1"), ("chat_id", True)],
)
def test_a_job_event_with_a_malformed_field_is_refused_not_retried(
    bot: WebhookClient, field: str, value: object
) -> None:
    fired = job_event("reminder", "c1001-u1-1", Target(1001), {"text": "hi"})
    fired["lambdagram"]["job"]["at"] = "2026-12-02T10:00:00Z"
    fired["lambdagram"]["job"][field] = value

    answer = bot.handler(fired, LambdaContext())

    assert answer["ok"] is False
    assert answer["error"] == "bad_internal_event"


def test_a_chat_cannot_set_more_timers_than_its_cap(bot: WebhookClient, scheduler: Any) -> None:
    """A user sending /remind in a loop must not fill the account's Scheduler quota for every
    user: the bot's Jobs(per_chat=5) refuses the sixth, and says so its own way."""
    set_ = [bot.say(f"/remind {600 + i}").text for i in range(5)]
    sixth = bot.say("/remind 700")
    other_chat = bot.say("/remind 700", chat_id=2002)

    assert all(text.startswith("reminder c1001-") for text in set_)
    assert sixth.text == "You have 5 reminders waiting already: /forget one first."
    assert other_chat.text.startswith("reminder c2002-")
    listed = scheduler.list_schedules(GroupName=GROUP, NamePrefix="c1001-")["Schedules"]
    assert len(listed) == 5
