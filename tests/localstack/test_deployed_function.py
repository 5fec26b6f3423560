"""The project deployed into LocalStack with its own serverless.yml, driven through its URL.

Run by ``make local-test`` (which ``make test`` runs wherever a Docker daemon can start):
``scripts/localstack.sh up`` has started LocalStack; this module deploys the stage ``local``
with a Redis and a fake Bot API of its own on the host (where the function's containers
reach them), then talks to the deployed function as Telegram would. Skipped unless
``LAMBDAGRAM_LOCALSTACK_TEST=1``.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from lambdagram.local.events import message_update
from lambdagram.local.fake_telegram import FakeTelegram
from lambdagram.local.redis_server import RedisServer

pytestmark = pytest.mark.skipif(
    os.environ.get("LAMBDAGRAM_LOCALSTACK_TEST") != "1",
    reason="needs LocalStack: make local-test",
)

ROOT = Path(__file__).resolve().parents[2]
SECRET = "rehearsal-secret-0123456789"
TOKEN = "123456789:AAH-rehearsal-token-0123456789abcd"
FUNCTION = "lambdagram-local-webhook"


def aws(*args: str) -> Any:
    """The AWS CLI against LocalStack, JSON out."""
    cache = os.environ.get("LAMBDAGRAM_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "lambdagram"
    )  # where scripts/localstack.sh keeps LocalStack's venv (its AWS CLI in it)
    cli = Path(cache) / "localstack" / "venv" / "bin" / "aws"
    command = [str(cli) if cli.exists() else "aws", "--endpoint-url=http://localhost:4566",
               "--region", "eu-west-1", "--output", "json", *args]  # fmt: skip
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    return json.loads(done.stdout or "null")


def gateway() -> str:
    """The host's address on the functions' Docker network."""
    return subprocess.run(
        ["docker", "network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}",
         "lambdagram-local"], capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip


@dataclass
class Deployed:
    url: str
    redis: RedisServer
    telegram: FakeTelegram
    since_ms: int  # when this module deployed: its log events are the ones after

    def post(self, update: dict[str, Any], secret: str = SECRET) -> tuple[int, Any, float]:
        """POST as Telegram does; status, JSON body, seconds. The Function URL's host is
        LocalStack's (*.localhost.localstack.cloud), sent to 127.0.0.1 without public DNS."""
        parts = urlsplit(self.url)
        request = urllib.request.Request(
            "http://127.0.0.1:4566/webhook", data=json.dumps(update).encode(), method="POST",
            headers={"Host": parts.netloc, "Content-Type": "application/json",
                     "X-Telegram-Bot-Api-Secret-Token": secret},
        )  # fmt: skip
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                status, body = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, body = error.code, error.read()
        return status, json.loads(body or b"null"), time.perf_counter() - started


@pytest.fixture(scope="module")
def deployed() -> Iterator[Deployed]:
    host = gateway()
    since_ms = int(time.time() * 1000)
    with RedisServer(persistent=True, host=host) as redis, FakeTelegram(host=host) as telegram:
        env = {**os.environ, "BOT_TOKEN": TOKEN, "WEBHOOK_SECRET": SECRET,
               "LOCAL_REDIS_URL": redis.url, "LOCAL_TELEGRAM_API_URL": telegram.url}  # fmt: skip
        subprocess.run([str(ROOT / "scripts" / "localstack.sh"), "deploy"], env=env, check=True)
        [config] = aws("lambda", "list-function-url-configs", "--function-name", FUNCTION)[
            "FunctionUrlConfigs"
        ]
        yield Deployed(config["FunctionUrl"], redis, telegram, since_ms)


def cold_start(deployed: Deployed) -> None:
    """Change the function's configuration, as a deploy does: the next call is cold."""
    aws("lambda", "update-function-configuration", "--function-name", FUNCTION,
        "--description", f"rehearsal {time.time()}")  # fmt: skip
    for _ in range(60):
        state = aws("lambda", "get-function-configuration", "--function-name", FUNCTION)
        if state.get("LastUpdateStatus") == "Successful":
            return
        time.sleep(1)


def test_a_whole_questionnaire_across_a_cold_start(deployed: Deployed) -> None:
    chat = 4100
    status, first, cold_seconds = deployed.post(message_update("/start", chat_id=chat))
    assert status == 200, first
    assert first["method"] == "sendMessage"
    print(f"first (cold) call through the Function URL: {cold_seconds:.2f} s")
    status, second, _ = deployed.post(message_update("Ada", chat_id=chat))
    assert "Ada" in second["text"]

    cold_start(deployed)
    status, third, recold = deployed.post(message_update("36", chat_id=chat))
    print(f"after the configuration change (cold again): {recold:.2f} s")
    assert status == 200, third
    assert "about yourself" in third["text"]  # the form's state survived the new instance
    status, last, _ = deployed.post(message_update("/skip", chat_id=chat))

    assert status == 200, last
    summaries = [str(c.params.get("text")) for c in deployed.telegram.calls_to("sendMessage")]
    assert any("Ada" in s and "36" in s for s in summaries), summaries  # awaited by the function


KILL_RUNTIME = (  # the [c]: this script's own command line must not match
    "for p in /proc/[0-9]*; do grep -q 'awslambdari[c]' $p/cmdline 2>/dev/null && "
    'kill -9 "${p#/proc/}"; done; true'
)
"""SIGKILL the function's runtime process (``python -m awslambdaric``) in its container.
(``docker kill`` of the whole container is not it: LocalStack 4.13 never notices the
invocation ended, and its event source mapping waits on it for good.)"""


def worker_containers() -> list[str]:
    """The Docker containers LocalStack runs the worker function in."""
    return subprocess.run(
        ["docker", "ps", "-q", "--filter", "name=lambdagram-local-worker"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip


def texts_to(deployed: Deployed, chat: int) -> list[str]:
    return [
        str(c.params.get("text"))
        for c in deployed.telegram.calls_to("sendMessage")
        if int(c.params["chat_id"]) == chat
    ]


def wait_for(what: str, check: Any, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"no {what} within {seconds:g} s"
        time.sleep(0.5)


def test_a_long_handler_runs_once_on_the_worker_across_a_duplicate_and_a_killed_worker(
    deployed: Deployed,
) -> None:
    """/card 45 runs longer than the webhook function's timeout (20 s): the webhook answers at
    once and the worker (deployed from infra/serverless/long-work.yml) runs it."""
    chat, other = 4500, 4501
    update = message_update("/card 45", chat_id=chat)
    status, body, seconds = deployed.post(update)
    print(f"a long update answered by the webhook in {seconds:.2f} s")
    assert (status, body) == (200, {"ok": True, "queued": True})
    assert seconds < 5.0  # far from the 45 s of the handler (2 s warm; a cold instance more)
    assert deployed.post(update)[:2] == (200, {"ok": True, "duplicate": True})
    later = deployed.post(message_update("/help", chat_id=chat))  # behind the card, in order
    assert later[:2] == (200, {"ok": True, "queued": True})
    status, help_body, _ = deployed.post(message_update("/help", chat_id=other))
    assert status == 200  # another chat is served meanwhile, in the webhook
    assert "/card" in help_body["text"]

    def typing() -> bool:
        return any(
            int(c.params["chat_id"]) == chat for c in deployed.telegram.calls_to("sendChatAction")
        )

    wait_for("chat action from the worker", typing, 120)
    containers = worker_containers()
    assert containers, "no worker container to kill"
    for container in containers:  # SIGKILL the runtime, as an out-of-memory kill does
        # -w /: Docker 26 runs an exec in the image's WORKDIR (/var/task), which LocalStack's
        # container may not have as a directory of its own
        subprocess.run(
            ["docker", "exec", "-w", "/", container, "sh", "-c", KILL_RUNTIME], check=True
        )
    print(f"killed the worker's runtime mid-handler ({len(containers)} container(s))")

    try:
        wait_for("card", lambda: texts_to(deployed, chat), 65 + 45 + 90)  # visibility, the run
    except AssertionError:
        worker_log = aws("logs", "filter-log-events", "--log-group-name",
                         "/aws/lambda/lambdagram-local-worker")  # fmt: skip
        for event in (worker_log or {}).get("events", [])[-30:]:
            print("worker:", event["message"].strip()[:400])
        raise
    wait_for("the /help queued behind it", lambda: len(texts_to(deployed, chat)) >= 2, 60)
    time.sleep(3)
    card, help_text, *more = texts_to(deployed, chat)
    assert "card is ready (it took 45 s)" in card  # once, and first
    assert "/card" in help_text
    assert more == []


def invoke(payload: dict[str, Any], tmp: Path) -> Any:
    """Invoke the deployed function directly (as Scheduler and `make broadcast` do)."""
    request, answer = tmp / "request.json", tmp / "answer.json"
    request.write_text(json.dumps(payload))
    aws("lambda", "invoke", "--function-name", FUNCTION, "--payload", f"fileb://{request}",
        str(answer))  # fmt: skip
    return json.loads(answer.read_text())


def test_a_reminder_is_a_schedule_that_deletes_itself_and_runs_once_when_fired(
    deployed: Deployed, tmp_path: Path
) -> None:
    """LocalStack's EventBridge Scheduler keeps schedules but fires none (its docs say so): the
    schedule the function made is checked field by field, then fired as Scheduler would, twice
    (Scheduler delivers at least once)."""
    chat = 4600
    asked = time.time()
    status, body, _ = deployed.post(message_update("/remind 5 tea", chat_id=chat))
    assert status == 200, body
    assert "remind you in 5 min" in body["text"]

    listed = aws("scheduler", "list-schedules", "--group-name", "lambdagram-local")["Schedules"]
    [name] = [s["Name"] for s in listed if s["Name"].startswith(f"c{chat}-")]
    schedule = aws("scheduler", "get-schedule", "--group-name", "lambdagram-local", "--name", name)
    target = schedule["Target"]
    assert schedule["ActionAfterCompletion"] == "DELETE"
    assert schedule["GroupName"] == "lambdagram-local"
    assert target["Arn"].endswith(":function:lambdagram-local-webhook")
    config = aws("lambda", "get-function-configuration", "--function-name", FUNCTION)
    assert target["RoleArn"] == config["Environment"]["Variables"]["TIMERS_ROLE_ARN"]
    assert target["DeadLetterConfig"]["Arn"].endswith(":lambdagram-local-timers-dead")
    assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
    when = schedule["ScheduleExpression"].removeprefix("at(").removesuffix(")")
    due = datetime.datetime.fromisoformat(when).replace(tzinfo=datetime.UTC).timestamp()
    assert 4 * 60 <= due - asked <= 6 * 60
    print(f"schedule {name}: {schedule['ScheduleExpression']} -> {target['Arn']}")

    fired = json.loads(target["Input"].replace("<aws.scheduler.scheduled-time>", when + "Z"))
    first, again = invoke(fired, tmp_path), invoke(fired, tmp_path)

    assert first == {"ok": True, "job": "reminder"}
    assert again.get("duplicate") is True
    assert texts_to(deployed, chat) == ["⏰ tea"]


def test_a_broadcast_runs_on_the_deployed_queue_and_worker_once_per_recipient(
    deployed: Deployed, tmp_path: Path
) -> None:
    """``make broadcast``'s request: the CLI prints it, the function starts the broadcast and
    LocalStack's event source mapping feeds its rounds to the worker, at the bot's rate."""
    chats = list(range(4700, 4760))
    listed = tmp_path / "chats.txt"
    listed.write_text("\n".join(map(str, chats)) + "\n")
    printed = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "-m", "lambdagram", "broadcast", "start",
         "--to", str(listed), "--text", "Rehearsed announcement", "--payload"],
        capture_output=True, text=True, check=True, cwd=ROOT,
    ).stdout  # fmt: skip

    answer = invoke(json.loads(printed), tmp_path)
    assert answer["ok"] is True, answer
    broadcast = answer["lines"][0].split()[1]

    def sent() -> list[int]:
        return [
            int(c.params["chat_id"])
            for c in deployed.telegram.calls_to("sendMessage")
            if c.params.get("text") == "Rehearsed announcement"
        ]

    wait_for("every recipient's message", lambda: len(set(sent())) == len(chats), 180)
    status = {"lambdagram": {"broadcast": {"action": "status", "id": broadcast}}}
    wait_for("the broadcast done", lambda: " done: " in invoke(status, tmp_path)["lines"][0], 60)
    assert sorted(sent()) == chats  # each once
    print(invoke(status, tmp_path)["lines"][0])


def test_a_wrong_secret_is_refused_and_a_replay_is_a_duplicate(deployed: Deployed) -> None:
    update = message_update("/help", chat_id=4200)

    assert deployed.post(update, secret="wrong")[0] == 401
    status, body, _ = deployed.post(update)
    assert status == 200, body
    assert deployed.post(update)[1] == {"ok": True, "duplicate": True}


def test_a_redis_restart_mid_form_is_a_503_then_the_dialog_goes_on(deployed: Deployed) -> None:
    chat = 4300
    deployed.post(message_update("/start", chat_id=chat))
    deployed.post(message_update("Grace", chat_id=chat))
    age = message_update("85", chat_id=chat)

    deployed.redis.stop()
    try:
        status, body, _ = deployed.post(age)
    finally:
        deployed.redis.start()

    assert status == 503, body
    assert body["error"] == "storage_unavailable"
    status, body, _ = deployed.post(age)  # Telegram's retry
    assert status == 200, body
    assert "about yourself" in body["text"]


def test_cloudwatch_has_one_json_line_per_update_and_no_secret(deployed: Deployed) -> None:
    time.sleep(2)  # LocalStack files an invocation's logs after answering it
    events = aws("logs", "filter-log-events", "--log-group-name", f"/aws/lambda/{FUNCTION}",
                 "--start-time", str(deployed.since_ms))  # fmt: skip
    messages = [e["message"].strip() for e in events["events"]]

    updates = [json.loads(m) for m in messages if '"update processed"' in m]
    ids = [line["update_id"] for line in updates]
    assert len(ids) >= 8
    once = [line["update_id"] for line in updates if line["outcome"] != "duplicate"]
    assert sorted(once) == sorted(set(ids))  # each once, and the replays said duplicate
    assert len(ids) > len(once)
    assert sum(1 for line in updates if line.get("cold_start")) >= 2  # the forced cold start
    text = "\n".join(messages)
    assert TOKEN.split(":")[1] not in text
    assert SECRET not in text
