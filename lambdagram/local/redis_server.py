"""Throwaway Redis servers on free loopback ports: plain, TLS, or a 3-node cluster."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Self

from lambdagram.local.ports import free_port
from lambdagram.local.servers import Managed


class RedisServerMissing(RuntimeError):
    """No redis-server binary on PATH."""


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        msg = f"{name} is not installed: run `sudo apt-get install redis-server redis-tools`"
        raise RedisServerMissing(msg)
    return found


class RedisServer(Managed):
    """A real redis-server process in a temporary directory, stopped on exit.

    ``persistent=True`` turns on the append-only file so `stop` then `start` keeps the data,
    the way a managed Redis keeps it through a failover. ``tls=True`` serves TLS only, with
    a self-signed certificate made for 127.0.0.1 (`ca_file`).
    """

    def __init__(
        self,
        *,
        persistent: bool = False,
        tls: bool = False,
        extra_args: Sequence[str] = (),
        port: int | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.binary = _binary("redis-server")
        self.persistent = persistent
        self.tls = tls
        self.extra_args = list(extra_args)
        self.port = port or free_port()
        self.host = host
        self._dir = tempfile.TemporaryDirectory(prefix="lambdagram-redis-")
        self.dir = Path(self._dir.name)
        self._log = self.dir / "redis.log"
        self.process: subprocess.Popen[bytes] | None = None
        if tls:
            _make_certificate(self.dir)

    @property
    def ca_file(self) -> Path:
        return self.dir / "cert.pem"

    @property
    def url(self) -> str:
        if self.tls:
            return f"rediss://{self.host}:{self.port}/0?ssl_ca_certs={self.ca_file}"
        return f"redis://{self.host}:{self.port}/0"

    def start(self) -> Self:
        """Start the server and wait until it answers PING."""
        if self.tls:
            listen = ["--port", "0", "--tls-port", str(self.port),
                      "--tls-cert-file", str(self.ca_file),
                      "--tls-key-file", str(self.dir / "key.pem"),
                      "--tls-ca-cert-file", str(self.ca_file),
                      "--tls-auth-clients", "no"]  # fmt: skip
        else:
            listen = ["--port", str(self.port)]
        args = [
            self.binary, *listen,
            "--bind", self.host,
            "--protected-mode", "no" if self.host != "127.0.0.1" else "yes",
            "--dir", str(self.dir),
            "--save", "",
            "--appendonly", "yes" if self.persistent else "no",
            "--appendfsync", "always",
            "--daemonize", "no",
            "--loglevel", "warning",
            *self.extra_args,
        ]  # fmt: skip
        with self._log.open("ab") as log:
            self.process = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, cwd=self.dir
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
            if self._pings():
                return
            time.sleep(0.02)
        msg = f"redis-server did not answer PING on port {self.port} within {timeout}s"
        raise RuntimeError(msg)

    def _pings(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5) as raw:
                if not self.tls:
                    return _ping(raw)
                context = ssl.create_default_context(cafile=str(self.ca_file))
                with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                    return _ping(tls)
        except OSError:
            return False


class RedisClusterServers(Managed):
    """A real Redis Cluster of ``size`` masters on loopback (no replicas)."""

    def __init__(self, size: int = 3) -> None:
        self.redis_cli = _binary("redis-cli")
        cluster_args = ["--cluster-enabled", "yes", "--cluster-node-timeout", "2000"]
        self.nodes = [
            RedisServer(extra_args=cluster_args, port=free_port(below=55535, bus_offset=10000))
            for _ in range(size)
        ]

    @property
    def url(self) -> str:
        """A URL of one node; cluster clients discover the others from it."""
        return f"redis://127.0.0.1:{self.nodes[0].port}/0"

    def start(self) -> Self:
        """Start the nodes, join them into a cluster, wait until every slot is served."""
        for node in self.nodes:
            node.start()
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        subprocess.run(
            [self.redis_cli, "--cluster", "create", *addresses, "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=60,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            info = subprocess.run(
                [self.redis_cli, "-p", str(self.nodes[0].port), "cluster", "info"],
                capture_output=True,
                text=True,
                check=False,
            ).stdout
            if "cluster_state:ok" in info:
                return self
            time.sleep(0.1)
        msg = "the Redis Cluster did not reach cluster_state:ok within 30 s"
        raise RuntimeError(msg)

    def close(self) -> None:
        for node in self.nodes:
            node.close()


def _ping(sock: socket.socket) -> bool:
    sock.sendall(b"PING\r\n")
    return sock.recv(64).startswith(b"+PONG")


def _make_certificate(directory: Path) -> None:
    """A self-signed certificate for 127.0.0.1 and localhost, valid for a day."""
    subprocess.run(
        [
            _binary("openssl"), "req", "-x509", "-newkey", "rsa:2048", "-nodes",
            "-keyout", str(directory / "key.pem"), "-out", str(directory / "cert.pem"),
            "-days", "1", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
