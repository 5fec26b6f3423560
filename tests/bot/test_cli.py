"""``python -m lambdagram demo|chat`` with the example bot, run as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys

from lambdagram.local.lambda_process import ROOT


def run_bot(*args: str, stdin: str = "", env: dict[str, str] | None = None) -> str:
    environ = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    result = subprocess.run(
        [sys.executable, "-m", "lambdagram", *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env={**environ, **(env or {})},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_demo_finishes_a_dialog_across_a_killed_process() -> None:
    out = run_bot("demo")

    assert "Lambda instance #1 killed with SIGKILL mid-form" in out
    assert "Form:about" in out  # what Redis held between the two processes
    assert "Name: Ada Lovelace" in out
    assert "Age: 36" in out
    assert out.rstrip().splitlines()[-1].startswith("SUCCESS")


def test_chat_answers_typed_lines_through_the_handler() -> None:
    out = run_bot("chat", stdin="/start\nBob\n42\n/skip\n/quit\n")

    assert "What's your name?" in out
    assert "Nice to meet you, Bob!" in out
    assert "Name: Bob" in out
    assert "Age: 42" in out


def test_chat_keeps_the_dialog_in_the_given_redis(redis_server_url: str) -> None:
    run_bot("chat", stdin="/start\nBob\n", env={"REDIS_URL": redis_server_url})

    out = run_bot("chat", stdin="42\n/skip\n", env={"REDIS_URL": redis_server_url})

    assert "Name: Bob" in out
