"""A fake Telegram Bot API: a real HTTP server on loopback that records every call.

It speaks the Bot API's URL scheme (``/bot<token>/<method>``) and its request encodings
(query string, urlencoded or multipart form, JSON), answers ``getMe``, the ``send*``
and ``edit*`` methods with the Message Telegram would return (`bot_api_results`), the
webhook methods with stored webhook info, ``getUpdates`` from a queue that `send_update`
fills (long polling, offsets confirming updates, 409 while a webhook is set, as Telegram
does), and the rest with ``true``. Point ``TELEGRAM_API_URL`` at `FakeTelegram.url`.
"""

from __future__ import annotations

import json
import math
import random
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from lambdagram.local.bot_api_results import Results
from lambdagram.local.servers import JSONRequestHandler, LoopbackHTTPServer


@dataclass(frozen=True)
class ApiCall:
    """One request the bot made: its token, method name and parameters, and the result."""

    token: str
    method: str
    params: dict[str, Any]
    result: Any = None


@dataclass
class _Failure:
    """How to answer a method instead of its result: a status, a raw body, maybe late."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    location: bool = False  # redirect to the same URL, for ever
    delay: float = 0.0
    chats: frozenset[str] | None = None  # only calls to these chats (None: every call)
    times: int | None = None  # only this many answers, then the method works again

    def applies(self, params: dict[str, Any]) -> bool:
        return self.chats is None or str(params.get("chat_id", "")) in self.chats


@dataclass
class _Limits:
    """Telegram's flood control as the fake plays it: messages a second for the whole bot
    (a sliding second), chats that blocked the bot, and 429s drawn at random. After a 429 every
    message is refused until its ``retry_after`` has passed, as Telegram does: a sender that
    does not wait keeps meeting 429s."""

    per_second: int = 0  # 0: no limit
    flood_chance: float = 0.0
    retry_after: int = 1
    blocked: set[str] = field(default_factory=set)
    sent_at: deque[float] = field(default_factory=deque)
    floods: int = 0
    draw: random.Random = field(default_factory=lambda: random.Random(0))
    closed_until: float = 0.0

    def refusal(self, chat_id: str) -> tuple[int, dict[str, Any]] | None:
        """The error for one more message now, or None if Telegram would take it (counted)."""
        if chat_id in self.blocked:
            return 403, _error(403, "Forbidden: bot was blocked by the user")
        now = time.monotonic()
        while self.sent_at and self.sent_at[0] <= now - 1.0:
            self.sent_at.popleft()
        over = self.per_second and len(self.sent_at) >= self.per_second
        drawn = self.flood_chance and self.draw.random() < self.flood_chance
        if now < self.closed_until or over or drawn:
            self.floods += 1
            wait = max(1, math.ceil(self.closed_until - now)) if now < self.closed_until else None
            if wait is None:
                wait = self.retry_after
                self.closed_until = now + wait
            body = _error(429, f"Too Many Requests: retry after {wait}")
            body["parameters"] = {"retry_after": wait}
            return 429, body
        self.sent_at.append(now)
        return None


def _error(code: int, description: str) -> dict[str, Any]:
    return {"ok": False, "error_code": code, "description": description}


_SENDING = ("send", "copymessage", "forwardmessage")  # what the limits count (not sendChatAction)


@dataclass
class _State:
    calls: list[ApiCall] = field(default_factory=list)
    failures: dict[str, _Failure] = field(default_factory=dict)
    webhook: dict[str, Any] = field(default_factory=dict)
    valid_tokens: set[str] | None = None
    results: Results = field(default_factory=Results)
    limits: _Limits = field(default_factory=_Limits)
    updates: list[dict[str, Any]] = field(default_factory=list)  # not confirmed yet
    lock: threading.Lock = field(default_factory=threading.Lock)
    arrived: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self.arrived = threading.Condition(self.lock)


class FakeTelegram(LoopbackHTTPServer):
    """The fake Bot API server; use as a context manager or call `start` and `close`."""

    def __init__(
        self, *, valid_tokens: set[str] | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.state = _State(valid_tokens=valid_tokens)
        self.host = host
        super().__init__(type("Handler", (_Handler,), {"state": self.state}), (host, port))

    @property
    def url(self) -> str:
        """The base URL to put in ``TELEGRAM_API_URL``."""
        return f"http://{self.host}:{self.port}"

    @property
    def calls(self) -> list[ApiCall]:
        """Every call so far, oldest first."""
        with self.state.lock:
            return list(self.state.calls)

    def calls_to(self, method: str) -> list[ApiCall]:
        """The calls of one Bot API method (case-insensitive)."""
        return [call for call in self.calls if call.method.lower() == method.lower()]

    def clear(self) -> None:
        """Forget recorded calls and planned failures."""
        with self.state.lock:
            self.state.calls.clear()
            self.state.failures.clear()
            self.state.updates.clear()
            self.state.results = Results()  # message ids start over
            self.state.limits = _Limits()

    def send_update(self, update: dict[str, Any]) -> None:
        """Queue ``update`` for ``getUpdates`` (as a user's message reaches Telegram)."""
        with self.state.arrived:
            self.state.updates.append(update)
            self.state.arrived.notify_all()

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        """The queued updates no ``getUpdates`` offset has confirmed yet."""
        with self.state.lock:
            return list(self.state.updates)

    def fail(
        self,
        method: str,
        error_code: int,
        description: str,
        *,
        retry_after: int | None = None,
        chats: Iterable[int] | None = None,
        times: int | None = None,
    ) -> None:
        """Answer every later call of ``method`` with this Bot API error (only the calls to
        ``chats``, only ``times`` times, where given)."""
        body: dict[str, Any] = {"ok": False, "error_code": error_code, "description": description}
        if retry_after is not None:
            body["parameters"] = {"retry_after": retry_after}
        failure = _Failure(error_code, json.dumps(body).encode(), times=times)
        self._plan(method, _only(failure, chats))

    def limit(
        self, per_second: int = 30, *, flood_chance: float = 0.0, retry_after: int = 1
    ) -> None:
        """Answer 429 with ``retry_after`` as Telegram does past ``per_second`` messages in any
        second (and at random, one message in ``1/flood_chance``), counting from now: the
        messages sent before count for nothing."""
        with self.state.lock:
            limits = self.state.limits
            limits.per_second, limits.flood_chance = per_second, flood_chance
            limits.retry_after = retry_after
            limits.sent_at.clear()

    def block(self, *chat_ids: int) -> None:
        """These chats blocked the bot: messages to them are refused with a 403."""
        with self.state.lock:
            self.state.limits.blocked.update(str(chat) for chat in chat_ids)

    @property
    def floods(self) -> int:
        """How many 429s the limits answered."""
        with self.state.lock:
            return self.state.limits.floods

    def fail_raw(
        self,
        method: str,
        status: int,
        body: str,
        content_type: str = "text/html",
        *,
        chats: Iterable[int] | None = None,
        times: int | None = None,
    ) -> None:
        """Answer ``method`` with a body that is not the Bot API's (a proxy's error page); with
        status 200 the call is carried out first (accepted, but answered unreadably). Only the
        calls to ``chats``, only ``times`` times, where given."""
        failure = _Failure(status, body.encode(), content_type, times=times)
        self._plan(method, _only(failure, chats))

    def redirect_loop(self, method: str) -> None:
        """Answer ``method`` with a redirect to itself, so the client gives up."""
        self._plan(method, _Failure(302, location=True))

    def hang(self, method: str, seconds: float) -> None:
        """Answer ``method`` only after ``seconds`` (with its normal result)."""
        self._plan(method, _Failure(200, delay=seconds))

    def _plan(self, method: str, failure: _Failure) -> None:
        with self.state.lock:
            self.state.failures[method.lower()] = failure


def _only(failure: _Failure, chats: Iterable[int] | None) -> _Failure:
    if chats is not None:
        failure.chats = frozenset(str(chat) for chat in chats)
    return failure


class _Handler(JSONRequestHandler):
    state: _State

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        segments = parts.path.strip("/").split("/")
        if len(segments) != 2 or not segments[0].startswith("bot"):
            self.reply_json(404, {"ok": False, "error_code": 404, "description": "Not Found"})
            return
        token, method = segments[0][3:], segments[1]
        params: dict[str, Any] = dict(parse_qsl(parts.query))
        params.update(self._body_params())
        valid = self.state.valid_tokens
        if valid is not None and token not in valid:
            self.reply_json(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
            return
        with self.state.lock:
            failure = self.state.failures.get(method.lower())
            if failure is not None and not failure.applies(params):
                failure = None
            if failure is not None and failure.times is not None:
                failure.times -= 1
                if failure.times <= 0:
                    del self.state.failures[method.lower()]
        if method.lower() == "getupdates" and failure is None:
            self._get_updates(token, params)
            return
        name = method.lower()
        if failure is None and name.startswith(_SENDING) and name != "sendchataction":
            with self.state.lock:
                refused = self.state.limits.refusal(str(params.get("chat_id", "")))
                if refused is not None:
                    self.state.calls.append(ApiCall(token, method, params, None))
            if refused is not None:
                self.reply_json(*refused)
                return
        accepted = failure is None or failure.status == 200  # done, whatever the answer says
        result = self._result(token, method.lower(), params) if accepted else None
        with self.state.lock:
            self.state.calls.append(ApiCall(token, method, params, result))
        if failure is not None and failure.delay:
            time.sleep(failure.delay)
        if failure is not None and (not accepted or failure.body):
            self._fail(failure)
            return
        self.reply_json(200, {"ok": True, "result": result})

    def _get_updates(self, token: str, params: dict[str, Any]) -> None:
        """Telegram's long polling: confirm below ``offset``, wait up to ``timeout`` seconds."""
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        deadline = time.monotonic() + min(float(params.get("timeout") or 0), 50.0)
        with self.state.arrived:
            if self.state.webhook.get("url"):
                conflict = {
                    "ok": False,
                    "error_code": 409,
                    "description": "Conflict: can't use getUpdates method while webhook is "
                    "active; use deleteWebhook to delete the webhook first",
                }
                self.state.calls.append(ApiCall(token, "getUpdates", params, None))
                self.reply_json(409, conflict)
                return
            while True:  # what the offset confirms is gone, updates queued meanwhile too
                self.state.updates[:] = [u for u in self.state.updates if u["update_id"] >= offset]
                if self.state.updates or (left := deadline - time.monotonic()) <= 0:
                    break
                self.state.arrived.wait(left)
            result = self.state.updates[:limit]
            self.state.calls.append(ApiCall(token, "getUpdates", params, result))
        self.reply_json(200, {"ok": True, "result": result})

    def _fail(self, failure: _Failure) -> None:
        self.send_response(failure.status)
        if failure.location:
            self.send_header("Location", self.path)
        self.send_header("Content-Type", failure.content_type)
        self.send_header("Content-Length", str(len(failure.body)))
        self.end_headers()
        self.wfile.write(failure.body)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []  # aiohttp streams multipart uploads without a Content-Length
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in {b"\r\n", b"\n", b""}:
                pass  # trailers
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _body_params(self) -> dict[str, Any]:
        raw = self._read_body()
        if not raw:
            return {}
        content_type = self.headers.get("Content-Type", "")
        if content_type.startswith("application/json"):
            decoded = json.loads(raw)
            return decoded if isinstance(decoded, dict) else {}
        if content_type.startswith("multipart/form-data"):
            head = f"Content-Type: {content_type}\r\n\r\n".encode()
            message = BytesParser(policy=HTTP).parsebytes(head + raw)
            fields: dict[str, Any] = {}
            for part in message.iter_parts():
                name = part.get_param("name", header="content-disposition")
                payload = part.get_payload(decode=True)
                if isinstance(name, str) and isinstance(payload, bytes):
                    is_file = part.get_filename() is not None
                    fields[name] = payload if is_file else payload.decode()
            return fields
        return dict(parse_qsl(raw.decode(), keep_blank_values=True))

    def _result(self, token: str, method: str, params: dict[str, Any]) -> Any:
        bot_id = int(token.partition(":")[0]) if token.partition(":")[0].isdigit() else 1
        if method == "setwebhook":
            with self.state.lock:
                self.state.webhook = dict(params)
            return True
        if method == "deletewebhook":
            with self.state.lock:
                self.state.webhook = {}
            return True
        if method == "getwebhookinfo":
            with self.state.lock:
                hook = dict(self.state.webhook)
            info: dict[str, Any] = {
                "url": hook.get("url", ""),
                "has_custom_certificate": False,
                "pending_update_count": 0,
            }
            if "max_connections" in hook:
                info["max_connections"] = int(hook["max_connections"])
            if "allowed_updates" in hook:
                allowed = hook["allowed_updates"]
                info["allowed_updates"] = (
                    json.loads(allowed) if isinstance(allowed, str) else allowed
                )
            return info
        return self.state.results.for_call(bot_id, method, params)


def main() -> None:
    """``python -m lambdagram.local.fake_telegram --host H --port P``: serve until stopped
    (the LocalStack rehearsal's functions reach it from their containers)."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    args = parser.parse_args()
    with FakeTelegram(host=args.host, port=args.port) as server:
        print(f"fake Bot API on {server.url}", flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()
