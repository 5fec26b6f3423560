"""A Lambda execution environment stand-in: one OS process that imports ``handler`` once
and then serves invocations one at a time, warm, until it is killed.

The parent side is `LambdaProcess`; the child side is
``python -m lambdagram.local.lambda_process``, which speaks JSON lines on stdin/stdout
(one event in, one response out).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[2]


TIMEOUT_VARIABLE = "LAMBDAGRAM_LOCAL_TIMEOUT_MS"  # each invocation's Lambda timeout (25 s)


class LambdaProcess:
    """A child process running ``handler.handler`` for the events it is sent."""

    def __init__(
        self, env: dict[str, str], *, quiet: bool = False, log: IO[str] | None = None
    ) -> None:
        """Start the process; its logs go to ``log``, nowhere if ``quiet``, else to stderr."""
        full_env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
        full_env.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
        started = time.perf_counter()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "lambdagram.local.lambda_process"],
            cwd=ROOT,
            env=full_env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL if quiet else log,
            text=True,
        )
        ready = self._read()
        self.init_seconds = time.perf_counter() - started
        self.import_seconds = float(ready["import_seconds"])
        self.pid = self.process.pid

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        """Invoke the function with ``event``; its response plus ``"ms"`` it took inside."""
        self.start(event)
        return self._read()

    def start(self, event: dict[str, Any]) -> None:
        """Begin an invocation without waiting for it (to `kill` it midway, say)."""
        stdin = self._pipe(self.process.stdin)
        stdin.write(json.dumps(event) + "\n")
        stdin.flush()

    def answer(self) -> dict[str, Any]:
        """Wait for the answer of the invocation `start` began."""
        return self._read()

    def kill(self) -> None:
        """SIGKILL, as when Lambda reclaims an instance: no cleanup runs."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self._close_pipes()

    def close(self) -> None:
        """Stop the process politely (end of input)."""
        if self.process.poll() is None:
            self._pipe(self.process.stdin).close()
            self.process.wait(timeout=10)
        self._close_pipes()

    def _read(self) -> dict[str, Any]:
        line = self._pipe(self.process.stdout).readline()
        if not line:
            code = self.process.wait()
            msg = f"the Lambda process {self.process.pid} exited with code {code}"
            raise RuntimeError(msg)
        decoded: dict[str, Any] = json.loads(line)
        return decoded

    def _close_pipes(self) -> None:
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None and not pipe.closed:
                pipe.close()

    @staticmethod
    def _pipe(pipe: IO[str] | None) -> IO[str]:
        assert pipe is not None
        return pipe


def main() -> None:
    """Child side: import the handler (the cold start), then serve events from stdin."""
    out = sys.stdout
    sys.stdout = sys.stderr  # logs must not mix with the protocol (before any import)
    from lambdagram.local.events import LambdaContext

    started = time.perf_counter()
    from lambdagram.local.composition import load_app

    handler = load_app().lambda_handler  # handler.py's, or LAMBDAGRAM_APP's
    timeout_ms = int(os.environ.get(TIMEOUT_VARIABLE) or 25_000)  # the function's timeout

    out.write(json.dumps({"import_seconds": time.perf_counter() - started}) + "\n")
    out.flush()
    for line in sys.stdin:
        event = json.loads(line)
        began = time.perf_counter()
        response = handler(event, LambdaContext(timeout_ms=timeout_ms))
        response["ms"] = (time.perf_counter() - began) * 1000
        out.write(json.dumps(response, default=int) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
