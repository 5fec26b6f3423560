"""``python -m lambdagram chat`` shows inline keyboards and lets the user press them."""

from __future__ import annotations

import os
import subprocess
import sys

from lambdagram.local.lambda_process import ROOT


def chat(app: str, stdin: str, redis_url: str | None = None, code: int = 0) -> str:
    """The chat's output; with ``redis_url`` it keeps the dialog there, else in a throwaway."""
    environ = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    if redis_url is not None:
        environ["REDIS_URL"] = redis_url
    result = subprocess.run(
        [sys.executable, "-m", "lambdagram", "chat"],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env={**environ, "LAMBDAGRAM_APP": app},
        check=False,
    )
    assert result.returncode == code, result.stderr
    return result.stdout + result.stderr


def test_buttons_are_numbered_and_pressed_with_a_hash_and_their_number() -> None:
    out = chat("tests.support.bots.keyboards:app", "/counter\n#2\n#1\n#7\n#3\n")

    assert "[#1 +1] [#2 +10]" in out
    assert "bot (edited) < Total: 10" in out
    assert "bot (edited) < Total: 11" in out
    assert "no button #7: the buttons shown are #1-#3" in out
    assert "bot ! Saved 11" in out  # the callback query's answer (an alert)


def test_an_aiogram_dialog_can_be_clicked_through() -> None:
    out = chat("tests.support.bots.dialog:app", "/start\nAda\n#3\n#2\n")

    assert "Hi Ada! Which size?" in out
    assert "Ada, size L. Confirm?" in out
    assert "Ordered a L for Ada." in out


def test_a_wrong_redis_url_is_one_clear_error_not_a_traceback() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "lambdagram", "chat"],
        cwd=ROOT,
        input="",
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "REDIS_URL": "http://not-redis"},
        check=False,
    )

    assert result.returncode == 1
    assert result.stderr.startswith("error: ")
    assert "REDIS_URL='http://not-redis' is not a redis:// or rediss:// URL" in result.stderr
    assert "Traceback" not in result.stderr


FORM = "tests.support.bots.form:app"


def test_a_chat_resumed_from_redis_says_where_the_dialog_stands(redis_server_url: str) -> None:
    first = chat(FORM, "/start\nAda\n", redis_url=redis_server_url)
    again = chat(FORM, "36\n", redis_url=redis_server_url)

    assert "Send /start to begin." in first
    assert "Resuming this chat from Redis: state Form:age, data name='Ada'." in again
    assert "Tell me a little about yourself" in again


def test_a_redis_url_nothing_answers_at_is_one_line_naming_the_fix() -> None:
    out = chat("tests.support.bots.form:app", "/start\n", "redis://:pw-0123@127.0.0.1:1/0", code=1)

    assert out.startswith("error: no Redis answers at redis://:***@127.0.0.1:1/0")
    assert "unset REDIS_URL" in out
    assert "Traceback" not in out
    assert len(out.splitlines()) == 1


def test_pressing_a_button_when_none_is_shown_says_so() -> None:
    out = chat("tests.support.bots.form:app", "#2\n")

    assert "no button #2: the buttons shown are none" in out


def test_a_long_handler_is_answered_at_once_then_run_by_the_stand_in_worker_in_order() -> None:
    out = chat("tests.support.bots.long:app", "/draw 0.2\n/count\n")

    assert "answered at once; the worker runs what was queued" in out
    assert "bot … typing" in out
    assert out.index("drawing 1 done after 0.2 s") < out.index("1 drawing(s)")


def test_a_timer_fires_on_time_in_the_chat_with_the_chats_state() -> None:
    out = chat("tests.support.bots.reminders:app", "/remind 1\n/wait 2.5\n/timers\n")

    assert "(timer c777-u" in out
    assert "Time's up! (state Reminding:waiting)" in out
    assert out.rstrip().endswith("you >")
    assert "bot < none" in out  # fired and gone (a one-time timer deletes itself)


def test_a_broadcast_runs_on_the_stand_in_worker_and_is_summed_up_not_listed() -> None:
    out = chat("tests.support.bots.announcer:app", "/announce 2001-2040 Hello all\n")

    assert "Broadcast u" in out
    assert "bot → 40 other chat(s): Hello all   [Bot API call: sendMessage]" in out
