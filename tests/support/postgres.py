"""A throwaway PostgreSQL server on a free loopback port, started the way redis-server is.

Debian's ``postgresql`` package (``scripts/bootstrap.sh`` installs it) puts the server's
programs in ``/usr/lib/postgresql/<version>/bin``; the newest there is used (or ``initdb``
on ``PATH``). PostgreSQL refuses to run as root, so under root the cluster belongs to the
package's ``postgres`` user and the server runs as it. Durability is off (fsync, full page
writes): the tests are about what the bot does, not about the disk.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Self

from lambdagram.local.ports import free_port
from lambdagram.local.servers import Managed

USER = "lambdagram"


class PostgresMissing(RuntimeError):
    """No PostgreSQL server programs on this machine."""


def server_programs() -> Path:
    """The directory holding ``initdb`` and ``postgres``."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).resolve().parent
    installed = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda path: int(path.parent.parent.name) if path.parent.parent.name.isdigit() else 0,
    )
    if installed:
        return installed[-1].parent
    msg = "PostgreSQL is not installed: `sudo apt-get install postgresql` (bootstrap.sh does)"
    raise PostgresMissing(msg)


class PostgresServer(Managed):
    """A real PostgreSQL server in a temporary directory, trusting local connections."""

    def __init__(self) -> None:
        self.programs = server_programs()
        self.port = free_port()
        self._dir = tempfile.TemporaryDirectory(prefix="lambdagram-postgres-")
        self.dir = Path(self._dir.name)
        self.process: subprocess.Popen[bytes] | None = None
        self._as: list[str] = []
        if os.geteuid() == 0:  # postgres will not run as root: the package's user runs it
            if shutil.which("runuser") is None:
                raise PostgresMissing(
                    "running as root needs runuser (util-linux) to start PostgreSQL"
                )
            shutil.chown(self.dir, user="postgres")
            self._as = ["runuser", "-u", "postgres", "--"]

    @property
    def url(self) -> str:
        """An asyncpg URL for SQLAlchemy: ``postgresql+asyncpg://...``."""
        return f"postgresql+asyncpg://{USER}@127.0.0.1:{self.port}/postgres"

    def start(self) -> Self:
        data = self.dir / "data"
        self._run(
            str(self.programs / "initdb"), "-D", str(data), "-U", USER, "-A", "trust",
            "--no-sync", "-E", "UTF8", "--locale=C",
        )  # fmt: skip
        log = (self.dir / "server.log").open("ab")
        self.process = subprocess.Popen(
            [*self._as, str(self.programs / "postgres"), "-D", str(data),
             "-p", str(self.port), "-k", str(self.dir), "-c", "listen_addresses=127.0.0.1",
             "-c", "fsync=off", "-c", "full_page_writes=off", "-c", "synchronous_commit=off"],
            stdout=log, stderr=subprocess.STDOUT, cwd=self.dir,
        )  # fmt: skip
        log.close()
        self._wait_ready()
        return self

    def sql(self, statement: str) -> str:
        """Run one statement with ``psql``; its unaligned output."""
        psql = shutil.which("psql") or str(self.programs / "psql")
        done = subprocess.run(
            [psql, "-h", "127.0.0.1", "-p", str(self.port), "-U", USER, "-d", "postgres",
             "-At", "-v", "ON_ERROR_STOP=1", "-c", statement],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"psql: {done.stderr.strip()}")
        return done.stdout.strip()

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        self._dir.cleanup()

    def _run(self, *args: str) -> None:
        done = subprocess.run(
            [*self._as, *args], capture_output=True, text=True, cwd=self.dir, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"{Path(args[0]).name} failed: {done.stderr.strip() or done.stdout}"
            )

    def _wait_ready(self, timeout: float = 30.0) -> None:
        ready = self.programs / "pg_isready"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                log = (self.dir / "server.log").read_text(errors="replace").strip()
                raise RuntimeError(f"postgres exited with {self.process.returncode}: {log}")
            probe = subprocess.run(
                [str(ready), "-q", "-h", "127.0.0.1", "-p", str(self.port)], check=False
            )
            if probe.returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError(
            f"postgres did not accept connections on port {self.port} in {timeout}s"
        )
