"""Plumbing shared by the local stand-in servers (Redis, the fake Bot API, test doubles)."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import Any, Self


class Managed:
    """A server used as a context manager: `start` on enter (closed again if that fails),
    `close` on exit."""

    def start(self) -> Self:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def reply_json(handler: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
    """Answer the request being handled with ``body`` as JSON."""
    payload = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(payload)))
    handler.end_headers()
    handler.wfile.write(payload)
