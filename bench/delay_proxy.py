"""A TCP proxy on loopback that holds every chunk for a fixed delay in each direction.

Managed Redis is across a network (ElastiCache in the same AZ: a few hundred microseconds
each way; Upstash from Lambda: milliseconds). Put this between a client and the bench's
redis-server to give every round trip that much more, the same for lambdagram and for the
reference, so the figure that counts is round trips, not loopback speed::

    with DelayProxy(target_port, delay_s=0.0005) as proxy:
        url = f"redis://127.0.0.1:{proxy.port}/0"

Each connection gets two pumping threads; a chunk read at time t is written at t + delay,
in order, so pipelined traffic keeps its order and its pipelining.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections import deque
from typing import Self

from lambdagram.local.ports import free_port
from lambdagram.local.servers import Managed


class DelayProxy(Managed):
    """Forwards 127.0.0.1:``port`` to 127.0.0.1:``target``, ``delay_s`` each way."""

    def __init__(self, target: int, delay_s: float) -> None:
        self.target = target
        self.delay_s = delay_s
        self.port = free_port()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._closed = threading.Event()
        self._sockets: list[socket.socket] = []

    def start(self) -> Self:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def close(self) -> None:
        self._closed.set()
        self._listener.close()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self._sockets.append(sock)
            for source, sink in ((client, upstream), (upstream, client)):
                self._pump(source, sink)

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        """Two threads per direction: one reads and stamps, one writes when each is due."""
        pending: deque[tuple[float, bytes]] = deque()
        ready = threading.Condition()

        def read() -> None:
            while True:
                try:
                    chunk = source.recv(65536)
                except OSError:
                    chunk = b""
                with ready:
                    pending.append((time.perf_counter() + self.delay_s, chunk))
                    ready.notify()
                if not chunk:
                    return

        def write() -> None:
            while True:
                with ready:
                    while not pending:
                        ready.wait()
                    due, chunk = pending.popleft()
                wait = due - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                if not chunk:
                    with contextlib.suppress(OSError):
                        sink.shutdown(socket.SHUT_WR)
                    return
                try:
                    sink.sendall(chunk)
                except OSError:
                    return

        threading.Thread(target=read, daemon=True).start()
        threading.Thread(target=write, daemon=True).start()
