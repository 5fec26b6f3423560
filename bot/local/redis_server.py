"""A throwaway ``redis-server`` on a free loopback port."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from bot.local.ports import free_port


class RedisServerMissing(RuntimeError):
    """No redis-server binary on PATH."""


class RedisServer:
    """A real redis-server process in a temporary directory, stopped on exit.

    ``persistent=True`` turns on the append-only file so a `restart` keeps the data, the
    way a managed Redis keeps it through a failover.
    """

    def __init__(self, *, persistent: bool = False, binary: str | None = None) -> None:
        found = binary or shutil.which("redis-server")
        if found is None:
            msg = "redis-server is not installed: run `sudo apt-get install redis-server`"
            raise RedisServerMissing(msg)
        self.binary = found
        self.persistent = persistent
        self.port = free_port()
        self._dir = tempfile.TemporaryDirectory(prefix="lambdagram-redis-")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        """Start the server and wait until it accepts connections."""
        args = [
            self.binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", self._dir.name,
            "--save", "",
            "--appendonly", "yes" if self.persistent else "no",
            "--appendfsync", "always",
            "--daemonize", "no",
            "--loglevel", "warning",
        ]  # fmt: skip
        self._log = Path(self._dir.name) / "redis.log"
        with self._log.open("ab") as log:
            self.process = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, cwd=self._dir.name
            )
        self._wait_ready()
        return self

    def stop(self) -> None:
        """Stop the server (its data stays on disk when persistent)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def restart(self) -> None:
        """Stop and start again on the same port."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop the server and delete its directory."""
        self.stop()
        self._dir.cleanup()

    def _wait_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                err = self._log.read_text(errors="replace").strip()
                msg = f"redis-server exited with {self.process.returncode}: {err}"
                raise RuntimeError(msg)
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(64).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.02)
        msg = f"redis-server did not answer PING on port {self.port} within {timeout}s"
        raise RuntimeError(msg)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
