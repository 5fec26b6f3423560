"""``python -m lambdagram poll``: the bot against the real Telegram from a laptop, no AWS.

Long-polls ``getUpdates`` and hands each update to ``handler.handler`` inside a Function URL
event carrying the webhook secret, exactly as Lambda would get it from Telegram: the same
claim and commit in Redis, the same answers. What the function returns as its webhook reply
is sent to the Bot API, as Telegram does with it (kept in a journal until sent, so one that a
Ctrl-C or a crash cuts off is sent at the next start). The offset advances only after a 2xx; a
409 or 5xx (another invocation holds the update, Redis or the Bot API is down) is retried
after a pause that doubles up to 30 s, as Telegram retries a webhook. Other 4xx answers
(an update the function refuses for good) are reported and skipped. A webhook set while
polling stops it, saying so (Telegram answers getUpdates 409 then).

Album closers, which the deployed function queues as asynchronous self-invocations, go to a
stand-in Invoke API on loopback and run here once the updates stop coming, so albums arrive
whole as on Lambda. Ctrl-C stops between updates (one being processed is finished first).
"""

from __future__ import annotations

import collections
import contextlib
import datetime
import itertools
import json
import os
import secrets
import signal
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO

from lambdagram.local.events import LambdaContext, lambda_event, response_json

if TYPE_CHECKING:
    from lambdagram.local.fake_scheduler import FakeScheduler
    from lambdagram.local.fake_sqs import FakeSQS
    from lambdagram.local.fake_telegram import FakeTelegram

LONG_POLL = 25  # seconds getUpdates waits for an update (Telegram allows up to 50)
RETRY_PAUSES = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0)
OFFICIAL_API = "https://api.telegram.org"


class PollError(RuntimeError):
    """Polling cannot go on; the message says why and what to do."""


class ApiError(RuntimeError):
    """The Bot API answered ``ok: false`` (or not at all)."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(f"{status}: {description}")
        self.status = status
        self.description = description


@dataclass
class BotApi:
    """Just enough of a Bot API client for polling: JSON in, ``result`` out."""

    token: str
    base_url: str = OFFICIAL_API

    def call(self, method: str, params: dict[str, Any] | None = None, timeout: float = 10) -> Any:
        """Call ``method``; its ``result``, or `ApiError` (status 0: the API was unreachable)."""
        url = f"{self.base_url.rstrip('/')}/bot{self.token}/{method}"
        data = json.dumps(params or {}).encode()
        request = urllib.request.Request(
            url, data=data, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                answer = json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            try:
                answer = json.loads(error.read() or b"{}")
            except ValueError:
                answer = {}
            description = str(answer.get("description") or error.reason)
            raise ApiError(error.code, description) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError, ValueError) as error:
            reason = getattr(error, "reason", error)
            raise ApiError(0, f"cannot reach {self.base_url}: {reason}") from None
        if not answer.get("ok"):
            raise ApiError(int(answer.get("error_code") or 0), str(answer.get("description")))
        return answer.get("result")


Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def WORKER_CONTEXT() -> LambdaContext:  # noqa: N802 - reads as the constant it stands for
    """The worker's context: its 15-minute ceiling."""
    return LambdaContext(timeout_ms=900_000)


@dataclass
class Poller:
    """Feeds updates from ``getUpdates`` through ``handler`` until `stop` is called."""

    api: BotApi
    handler: Handler
    secret: str
    allowed_updates: list[str] | None = None
    out: TextIO = sys.stdout
    pauses: tuple[float, ...] = RETRY_PAUSES
    long_poll: int = LONG_POLL
    offset: int | None = None
    deferred: collections.deque[dict[str, Any]] = field(default_factory=collections.deque)
    journal: Path | None = None  # webhook replies committed but not yet sent (see `_send_reply`)
    queue: FakeSQS | None = None  # long handlers' stand-in queue, drained when updates pause
    scheduler: FakeScheduler | None = None  # timers' stand-in, fired when updates pause
    _unsent: dict[str, dict[str, Any]] = field(default_factory=dict)  # the journal's contents
    stopping: bool = False
    _waiting: bool = False

    def check_webhook(self, *, delete: bool) -> None:
        """Refuse while a webhook is set (Telegram would not answer getUpdates), or remove it."""
        url = self.api.call("getWebhookInfo").get("url")
        if not url:
            return
        if not delete:
            msg = (
                f"a webhook is set ({url}), so Telegram sends updates there and refuses "
                "getUpdates. Run again with --delete-webhook to remove it (make webhook-set "
                "points Telegram back at the deployed function)"
            )
            raise PollError(msg)
        self.api.call("deleteWebhook")
        self.say(f"deleted the webhook {url} (make webhook-set restores it)")

    def run(self) -> None:
        """Poll until `stop`; each update to completion, then the next."""
        self.resend_pending()
        while not self.stopping:
            updates: list[dict[str, Any]] = []
            with self._idle():
                updates = self._get_updates()
            for update in updates:
                self.deliver(update)
                if self._stopped():
                    self.say("stopping (Ctrl-C): no update is left half-done")
                    break
            if not updates:
                self._run_deferred()
        self._confirm()

    def deliver(self, update: dict[str, Any]) -> None:
        """Hand one update to the function until it answers 2xx (or refuses it for good)."""
        update_id = int(update["update_id"])
        for attempt in itertools.count():
            response = self.handler(lambda_event(update, secret=self.secret), LambdaContext())
            status = int(response.get("statusCode", 500))
            body = _body(response)
            if 200 <= status < 300:
                self.say(f"update {update_id} ({_kind(update)}): {status} {_outcome(body)}")
                if isinstance(body, dict) and "method" in body:
                    self._send_reply(update_id, body)
                break
            error = body.get("error") if isinstance(body, dict) else body
            if status != 409 and 400 <= status < 500:
                self.say(f"update {update_id}: {status} {error}: skipped (refused for good)")
                break
            pause = self.pauses[min(attempt, len(self.pauses) - 1)]
            self.say(f"update {update_id}: {status} {error}: retrying in {pause:g} s")
            self._pause(pause)
            if self._stopped():
                return  # not confirmed: Telegram gives it to the next poll
        self.offset = update_id + 1

    def stop(self) -> None:
        """Stop after the update being processed (at once if none is)."""
        self.stopping = True

    def _stopped(self) -> bool:  # a method: a signal handler changes `stopping` meanwhile
        return self.stopping

    def say(self, line: str) -> None:
        print(line, file=self.out, flush=True)

    def interrupt(self, _signum: int, _frame: FrameType | None) -> None:
        """SIGINT: stop; cut a wait short, never anything else (an update being processed is
        finished, and its offset kept). It prints nothing: the main thread may be printing."""
        self.stop()
        if self._waiting:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def _idle(self) -> Iterator[None]:
        """A wait that Ctrl-C may cut short."""
        self._waiting = True
        try:
            yield
        except KeyboardInterrupt:
            self.stopping = True
        finally:
            self._waiting = False

    def _pause(self, seconds: float) -> None:
        with self._idle():
            time.sleep(seconds)

    def _poll_seconds(self) -> int:
        """How long getUpdates may wait: shorter when deferred work or a timer is due."""
        if self.deferred:
            return 1
        due = self.scheduler.next_due() if self.scheduler is not None else None
        if due is None:
            return self.long_poll
        left = (due - datetime.datetime.now(datetime.UTC)).total_seconds()
        return max(1, min(self.long_poll, int(left) + 1))

    def _get_updates(self) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"timeout": self._poll_seconds()}
        if self.offset is not None:
            params["offset"] = self.offset
        if self.allowed_updates is not None:
            params["allowed_updates"] = self.allowed_updates
        for attempt in itertools.count():
            try:
                updates: list[dict[str, Any]] = self.api.call(
                    "getUpdates", params, timeout=params["timeout"] + 10
                )
                return updates
            except ApiError as error:
                if error.status in {401, 404}:
                    msg = f"Telegram refused the token ({error}): check BOT_TOKEN"
                    raise PollError(msg) from None
                if error.status == 409 and "webhook" in error.description.lower():
                    msg = (
                        "a webhook was set while polling (make webhook-set?), so Telegram now "
                        "sends the updates there; run again with --delete-webhook to take "
                        "them back"
                    )
                    raise PollError(msg) from None
                pause = self.pauses[min(attempt, len(self.pauses) - 1)]
                self.say(f"getUpdates failed ({error}): retrying in {pause:g} s")
                time.sleep(pause)
        raise AssertionError("unreachable")  # itertools.count() does not end

    def _send_reply(self, update_id: int, body: dict[str, Any]) -> None:
        """Send a webhook reply as Telegram would. The function committed the update already,
        so a reply lost here (Ctrl-C, a crash) would be lost for good: it is kept in the
        journal until sent, and a poller started later sends what it finds there."""
        self._unsent[str(update_id)] = body
        self._journal_write()
        params = dict(body)
        method = str(params.pop("method"))
        try:
            self.api.call(method, params)
        except ApiError as error:  # Telegram ignores a failed webhook reply as well
            self.say(f"  the webhook reply {method} failed: {error}")
        self._unsent.pop(str(update_id), None)
        self._journal_write()

    def resend_pending(self) -> None:
        """Send the replies a stopped poller committed but did not send (from the journal)."""
        self._unsent = self._journal_read()
        for update_id, body in sorted(self._unsent.items(), key=lambda kv: int(kv[0])):
            self.say(f"update {update_id}: sending its reply, committed before the last stop")
            self._send_reply(int(update_id), body)

    def _journal_read(self) -> dict[str, dict[str, Any]]:
        if self.journal is None or not self.journal.exists():
            return {}
        try:
            pending: dict[str, dict[str, Any]] = json.loads(self.journal.read_text() or "{}")
        except ValueError:
            return {}
        return pending

    def _journal_write(self) -> None:
        if self.journal is None:
            return
        temporary = self.journal.with_suffix(".tmp")
        temporary.write_text(json.dumps(self._unsent))
        temporary.replace(self.journal)  # atomic: never half a journal

    def _run_deferred(self) -> None:
        while self.deferred and not self.stopping:
            self.handler(self.deferred.popleft(), LambdaContext())
        for event in self.scheduler.due() if self.scheduler is not None else []:
            self.handler(event, LambdaContext())
            self.say(f"timer {event['lambdagram']['job']['timer']} fired")
        if self.queue is not None and self.queue.messages and not self.stopping:
            ran = self.queue.drain(lambda event: self.handler(event, WORKER_CONTEXT()))
            self.say(f"the worker ran {ran} batch(es) of long work")

    def _confirm(self) -> None:
        """Tell Telegram the processed updates are done (getUpdates with the next offset)."""
        if self.offset is None:
            return
        with contextlib.suppress(ApiError):
            self.api.call("getUpdates", {"offset": self.offset, "limit": 1, "timeout": 0})


def _body(response: dict[str, Any]) -> Any:
    try:
        return response_json(response)
    except ValueError:
        return response.get("body")


def _kind(update: dict[str, Any]) -> str:
    kind = next((key for key in update if key != "update_id"), "empty")
    event = update.get(kind)
    chat = event.get("chat", {}).get("id") if isinstance(event, dict) else None
    if chat is None and isinstance(event, dict):
        chat = (event.get("message") or {}).get("chat", {}).get("id")
    return f"{kind} in chat {chat}" if chat is not None else kind


def _outcome(body: Any) -> str:
    if not isinstance(body, dict) or not body:
        return "handled"
    if "method" in body:
        return f"handled, replied with {body['method']}"
    flags = [key for key in ("duplicate", "dead_letter", "album_part") if body.get(key)]
    if body.get("handled") is False:
        flags.append("handler failed (see the log)")
    return ", ".join(flags) or "handled"


def run(*, delete_webhook: bool = False, offline: bool = False) -> int:
    """The ``poll`` command: set up Redis, the stand-in Invoke API and the function, then poll.

    ``offline``: no Telegram at all: a fake Bot API on loopback serves ``getUpdates``, and what
    you type becomes its updates (as in ``chat``, ``#N`` presses button N), so the polling path
    can be tried without a token or internet.
    """
    from lambdagram.local import fake_scheduler, log_file
    from lambdagram.local.composition import load_app
    from lambdagram.local.fake_lambda import FakeLambda
    from lambdagram.local.fake_sqs import FakeSQS
    from lambdagram.local.redis_server import RedisServer, RedisServerMissing
    from lambdagram.runtime import ensure_event_loop
    from lambdagram.settings import Settings, SettingsError

    offline_api = None
    if offline:
        from lambdagram.local.fake_telegram import FakeTelegram
        from lambdagram.tools.chat import TOKEN

        offline_api = FakeTelegram().start()
        os.environ.update(BOT_TOKEN=TOKEN, TELEGRAM_API_URL=offline_api.url)
    token = os.environ.get("BOT_TOKEN", "")
    if not token:
        print(
            "error: BOT_TOKEN is not set: export the token @BotFather gave your bot "
            "(BOT_TOKEN=123456:ABC... python -m lambdagram poll)",
            file=sys.stderr,
        )
        return 1
    api = BotApi(token, os.environ.get("TELEGRAM_API_URL") or OFFICIAL_API)
    with contextlib.ExitStack() as stack:
        redis_url = os.environ.get("REDIS_URL")
        if not redis_url:
            try:
                redis_url = stack.enter_context(RedisServer()).url
            except RedisServerMissing as error:
                print(f"error: {error}; or set REDIS_URL", file=sys.stderr)
                return 1
            print(
                f"No REDIS_URL: started a throwaway redis-server ({redis_url}); "
                "the dialogs' state goes with it when polling stops.",
                flush=True,
            )
        deferred: collections.deque[dict[str, Any]] = collections.deque()
        invoke = stack.enter_context(FakeLambda(deferred.append))  # run when updates pause
        queue = stack.enter_context(FakeSQS())  # long handlers' work, likewise
        scheduler = stack.enter_context(fake_scheduler.FakeScheduler())  # timers, likewise
        secret = os.environ.get("WEBHOOK_SECRET") or secrets.token_urlsafe(24)
        os.environ.update(
            WEBHOOK_SECRET=secret,
            REDIS_URL=redis_url,
            # The function queues album closers as asynchronous invocations of itself.
            AWS_LAMBDA_FUNCTION_NAME=os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "lambdagram-poll"),
            AWS_REGION=os.environ.get("AWS_REGION", "local"),
            AWS_ENDPOINT_URL_LAMBDA=invoke.url,
            AWS_ACCESS_KEY_ID=os.environ.get("AWS_ACCESS_KEY_ID", "local"),
            AWS_SECRET_ACCESS_KEY=os.environ.get("AWS_SECRET_ACCESS_KEY", "local"),
            LONG_WORK_QUEUE_URL=queue.queue_url,
            AWS_ENDPOINT_URL_SQS=queue.url,
            **fake_scheduler.environment(scheduler),
        )
        try:
            Settings.from_environ(os.environ)
        except SettingsError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        log_path = log_file("poll")
        logs = stack.enter_context(log_path.open("w"))
        with contextlib.redirect_stdout(logs):  # the function's JSON logs, as CloudWatch has them
            app = load_app()
        poller = Poller(
            api,
            _logged(app.lambda_handler, logs),
            secret,
            allowed_updates=app.blueprint.used_update_types(),
            deferred=deferred,
            queue=queue,
            scheduler=scheduler,
            journal=log_path.with_name("poll-replies.json"),
        )
        try:
            poller.check_webhook(delete=delete_webhook)
            me = api.call("getMe")
        except (PollError, ApiError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        if offline_api is not None:
            stack.callback(offline_api.close)
            poller.out = logs  # the terminal is the chat's; the poller's lines go to the log
            _type_updates(offline_api, poller)
            print(
                f"Polling a fake Bot API on loopback as @{me.get('username')} (no Telegram; the "
                f"function's logs: {log_path}). Type messages, #N presses button N; Ctrl-D stops.",
                flush=True,
            )
        else:
            print(
                f"Polling as @{me.get('username')} (the function's logs: {log_path}). "
                "Message the bot in Telegram; Ctrl-C stops.",
                flush=True,
            )
        previous = signal.signal(signal.SIGINT, poller.interrupt)
        try:
            poller.run()
        except PollError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        finally:
            signal.signal(signal.SIGINT, previous)
            with contextlib.redirect_stdout(logs), contextlib.suppress(Exception):
                ensure_event_loop().run_until_complete(app.close())  # pools, at shutdown
        print("Stopped.", flush=True)
    return 0


def _type_updates(api: FakeTelegram, poller: Poller) -> None:
    """Offline: a thread that turns each typed line into an update of the fake Bot API, waits
    until the poller confirmed it, and prints what the bot sent; at the end, Ctrl-C."""
    import threading

    from lambdagram.local.transcript import Button, bot_lines
    from lambdagram.tools.chat import typed_update

    def chat() -> None:
        buttons: list[Button] = []
        while True:
            try:
                text = input().strip()
            except (EOFError, KeyboardInterrupt, ValueError):
                break
            if not text:
                continue
            update = typed_update(text, buttons)
            if update is None:
                print(f"  (no button {text})", flush=True)
                continue
            before = len(api.calls)
            api.send_update(update)
            while poller.offset is None or poller.offset <= update["update_id"]:
                if poller.stopping:
                    return
                time.sleep(0.05)
            calls = [c for c in api.calls[before:] if c.method != "getUpdates"]
            shown: list[Button] = []
            for line in bot_lines(calls, None, shown):
                print(line, flush=True)
            buttons = shown or buttons
        os.kill(os.getpid(), signal.SIGINT)  # stop the poller as Ctrl-C does

    threading.Thread(target=chat, daemon=True).start()


def _logged(handler: Handler, logs: TextIO) -> Handler:
    """``handler`` with its stdout (JSON logs and EMF metrics) going to ``logs``."""

    def invoke(event: dict[str, Any], context: Any) -> dict[str, Any]:
        with contextlib.redirect_stdout(logs):
            return handler(event, context)

    return invoke
