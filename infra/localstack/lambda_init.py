#!/var/lang/bin/python3
"""A stand-in for LocalStack's Lambda init, for machines that cannot download LocalStack's own.

LocalStack runs its init (a fork of AWS's runtime interface emulator, fetched from GitHub
releases) as ``/var/rapid/init`` in every function container. Where that download is
impossible, ``scripts/localstack.sh`` puts this file where LocalStack looks first. Wherever
LocalStack's own init can be had, it is used instead. Standard library only: it runs on the
runtime image's Python before anything else is there.

What it does, as LocalStack's executor expects (``localstack/services/lambda_/invocation/``):

- serves the Lambda Runtime API on ``127.0.0.1:9001`` to the runtime (``/var/runtime/bootstrap``,
  which runs ``awslambdaric``), started with ``AWS_LAMBDA_RUNTIME_API`` pointing there;
- tells LocalStack the environment is ready (``POST <endpoint>/status/<id>/ready``) when the
  runtime first asks for an invocation, or that it failed (``.../status/<id>/error``);
- takes invocations on ``:9563/invoke`` (``{"invoke-id", "invoked-function-arn", "payload",
  "trace-id"}``), hands each to the runtime, and posts the invocation's output (``.../invocations/
  <id>/logs``, which LocalStack files in CloudWatch Logs) and then its result (``.../response``
  or ``.../error``);
- enforces the function's timeout: past it, the runtime is killed and started again (a cold
  start), and the invocation ends in ``Sandbox.Timedout``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import queue
import subprocess
import sys
import termios
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# Overridable only so the tests can run this init on a host, outside any container.
RUNTIME_API = ("127.0.0.1", int(os.environ.get("LAMBDAGRAM_INIT_RUNTIME_PORT") or 9001))
INVOKE_PORT = int(os.environ.get("LAMBDAGRAM_INIT_INVOKE_PORT") or 9563)
BOOTSTRAP = os.environ.get("LAMBDAGRAM_INIT_BOOTSTRAP") or "/var/runtime/bootstrap"
PREFIX = "/2018-06-01/runtime"


class Init:
    """One execution environment: its runtime process, its current invocation."""

    def __init__(self, environ: dict[str, str]) -> None:
        self.endpoint = environ["LOCALSTACK_RUNTIME_ENDPOINT"].rstrip("/")
        self.runtime_id = environ["LOCALSTACK_RUNTIME_ID"]
        self.timeout = float(environ.get("AWS_LAMBDA_FUNCTION_TIMEOUT") or 3)
        self.environ = environ
        self.invocations: queue.Queue[dict[str, Any]] = queue.Queue()
        self.current: dict[str, Any] | None = None
        self.output: list[str] = []
        self.lock = threading.Lock()
        self.ready = False
        self.process: subprocess.Popen[bytes] | None = None

    # ---- to LocalStack ---------------------------------------------------------------------

    def post(self, path: str, body: bytes, content_type: str = "application/json") -> None:
        request = urllib.request.Request(
            f"{self.endpoint}{path}", data=body, method="POST",
            headers={"Content-Type": content_type},
        )  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                response.read()
        except OSError as error:
            log(f"could not reach LocalStack at {path}: {error}")

    def finish(self, request_id: str, outcome: str, body: bytes) -> None:
        """Post the invocation's output, then its result (LocalStack reads them in that order)."""
        with self.lock:
            if self.current is None or self.current["invoke-id"] != request_id:
                return  # already ended (a timeout beat it)
            self.current = None
        self._drain()
        with self.lock:
            logs, self.output = "".join(self.output), []
        self.post(f"/invocations/{request_id}/logs", json.dumps({"logs": logs}).encode())
        self.post(f"/invocations/{request_id}/{outcome}", body)

    def _drain(self, longest: float = 2.0) -> None:
        """Wait until the reader threads have taken all the runtime wrote before it answered
        (nothing left unread in its pipes, twice in a row)."""
        deadline = time.monotonic() + longest
        empty_twice = 0
        while time.monotonic() < deadline and empty_twice < 2:
            empty_twice = empty_twice + 1 if self._unread() == 0 else 0
            time.sleep(0.005)

    def _unread(self) -> int:
        """Bytes waiting in the runtime's stdout and stderr pipes."""
        process, total = self.process, 0
        for pipe in (process.stdout, process.stderr) if process is not None else ():
            if pipe is not None:
                with contextlib.suppress(OSError):
                    buffer = fcntl.ioctl(pipe.fileno(), termios.FIONREAD, b"\0\0\0\0")
                    total += int.from_bytes(buffer, sys.byteorder)
        return total

    # ---- the runtime -----------------------------------------------------------------------

    def start_runtime(self) -> None:
        own = ("LOCALSTACK_", "LAMBDAGRAM_INIT_")
        env = {k: v for k, v in self.environ.items() if not k.startswith(own)}
        env["AWS_LAMBDA_RUNTIME_API"] = f"{RUNTIME_API[0]}:{RUNTIME_API[1]}"
        env.setdefault("PYTHONUNBUFFERED", "1")
        self.process = subprocess.Popen(
            [BOOTSTRAP], env=env, cwd=self.environ.get("LAMBDA_TASK_ROOT", "/var/task"),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        for pipe in (self.process.stdout, self.process.stderr):
            threading.Thread(target=self._collect, args=(pipe,), daemon=True).start()
        threading.Thread(target=self._watch, args=(self.process,), daemon=True).start()

    def _collect(self, pipe: Any) -> None:
        for raw in iter(pipe.readline, b""):
            line = raw.decode("utf-8", "replace")
            with self.lock:
                self.output.append(line)
            sys.stdout.write(line)  # docker logs show it too
            sys.stdout.flush()

    def _watch(self, process: subprocess.Popen[bytes]) -> None:
        """The runtime exited: fail what it was doing, and start a new one."""
        code = process.wait()
        if process is not self.process:
            return  # replaced on purpose (a timeout)
        log(f"the runtime exited with {code}")
        with self.lock:
            current = self.current
        if not self.ready:
            error = {"errorType": "Runtime.ExitError", "errorMessage": f"exit status {code}"}
            self.post(f"/status/{self.runtime_id}/error", json.dumps(error).encode())
            return
        if current is not None:
            message = f"RequestId: {current['invoke-id']} Error: exit status {code}"
            error = {"errorType": "Runtime.ExitError", "errorMessage": message}
            self.finish(current["invoke-id"], "error", json.dumps(error).encode())
        self.start_runtime()

    def next_invocation(self) -> dict[str, Any]:
        """Block until LocalStack sends an invocation; the first call means the runtime is up."""
        if not self.ready:
            self.ready = True
            self.post(f"/status/{self.runtime_id}/ready", b"{}")
        invocation = self.invocations.get()
        invocation["deadline"] = time.time() + self.timeout
        with self.lock:
            self.current = invocation
        threading.Thread(target=self._deadline, args=(invocation,), daemon=True).start()
        return invocation

    def _deadline(self, invocation: dict[str, Any]) -> None:
        time.sleep(max(0.0, invocation["deadline"] - time.time()))
        with self.lock:
            late = self.current is invocation
        if not late:
            return
        log(f"invocation {invocation['invoke-id']} timed out after {self.timeout:g} s")
        old, self.process = self.process, None
        if old is not None:
            old.kill()
        error = {"errorType": "Sandbox.Timedout",
                 "errorMessage": f"Task timed out after {self.timeout:.2f} seconds"}  # fmt: skip
        self.finish(invocation["invoke-id"], "error", json.dumps(error).encode())
        self.start_runtime()


def log(message: str) -> None:
    print(f"[lambdagram init] {message}", file=sys.stderr, flush=True)


def runtime_api(init: Init) -> type[BaseHTTPRequestHandler]:
    class RuntimeAPI(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

        def do_GET(self) -> None:
            if self.path != f"{PREFIX}/invocation/next":
                self._answer(404, b'{"errorMessage": "not found"}')
                return
            invocation = init.next_invocation()
            body = invocation["payload"].encode()
            self.send_response(200)
            for name, value in (
                ("Lambda-Runtime-Aws-Request-Id", invocation["invoke-id"]),
                ("Lambda-Runtime-Deadline-Ms", str(int(invocation["deadline"] * 1000))),
                ("Lambda-Runtime-Invoked-Function-Arn", invocation["invoked-function-arn"]),
                ("Lambda-Runtime-Trace-Id", invocation.get("trace-id") or ""),
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(body))),
            ):
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self._answer(202, b'{"status": "OK"}')
            if self.path == f"{PREFIX}/init/error":
                init.post(f"/status/{init.runtime_id}/error", body)
                return
            parts = self.path.removeprefix(f"{PREFIX}/invocation/").split("/")
            if len(parts) == 2 and parts[1] in {"response", "error"}:
                init.finish(parts[0], parts[1], body)

        def _answer(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return RuntimeAPI


def invoke_api(init: Init) -> type[BaseHTTPRequestHandler]:
    class InvokeAPI(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path != "/invoke":
                self.send_response(404)
                self.end_headers()
                return
            init.invocations.put(json.loads(body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    return InvokeAPI


def serve(address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
    server = ThreadingHTTPServer(address, handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()


def main() -> None:
    environ = dict(os.environ)
    for entry in json.loads(environ.get("LOCALSTACK_CHMOD_PATHS") or "[]"):
        with contextlib.suppress(OSError):
            os.chmod(entry["path"], int(entry["mode"], 8))
    init = Init(environ)
    serve(RUNTIME_API, runtime_api(init))
    serve(("0.0.0.0", INVOKE_PORT), invoke_api(init))
    init.start_runtime()
    threading.Event().wait()


if __name__ == "__main__":
    main()
