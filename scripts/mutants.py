"""``make mutants``: break the engine's critical lines one at a time; the tests must notice.

Each mutant is one small, plausible change (a condition inverted, a check dropped, a reply
answered 200) that breaks a promise the README or a docstring makes. It is applied to a copy
of the tree (the files git knows, tracked or new: never ``.tools/``, ``.venv`` or caches), and
the fast tests run there, the tests that state the promise first (``-x``, stopping at the
first failure): the mutant is *killed* if any fails. A mutant that survives is a promise no
test guards. Exit code 1 if any survived.

    .venv/bin/python scripts/mutants.py [NAME ...]   # all mutants, or the ones named
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = [
    "tests/lambdagram",
    "tests/test_outages.py",
    "--ignore=tests/lambdagram/test_lazy_types.py",  # slow, and about the import only
]


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...] = ()  # where the promise is stated: run first, the rest after
    control: bool = False  # changes nothing a test may see: it must survive


CONTROL = "control: a comment reworded (changes nothing; it must survive)"


MUTANTS = [
    Mutant(
        CONTROL,
        "lambdagram/broadcasts.py",
        "# sends one worker keeps going at once",
        "# sends a worker keeps going at the same time",
        ("tests/lambdagram/test_broadcasts.py",),
        control=True,
    ),
    # long work (issue 16)
    Mutant(
        "a chat's later update overtakes its queued long one",
        "lambdagram/delivery.py",
        "  if redis.call('ZCARD', KEYS[5]) > 0 then leave() return {'enqueue'} end\n",
        "",
        ("tests/lambdagram/test_long_work.py",),
    ),
    Mutant(
        "the worker's commit leaves the update on its chat's queue",
        "lambdagram/delivery.py",
        "elseif ARGV[5] == '-' then\n  redis.call('ZREM', KEYS[4], ARGV[6])\n",
        "elseif ARGV[5] == '-' then\n",
        ("tests/lambdagram/test_long_work.py",),
    ),
    Mutant(
        "a queued update delivered again runs again on the webhook",
        "lambdagram/delivery.py",
        "  if mode ~= 'work' then leave() return {'queued'} end\n",
        "",
        ("tests/lambdagram/test_long_work.py",),
    ),
    # broadcasts (issue 17; under faults, issue 31)
    Mutant(
        "two workers on one broadcast both send to a recipient",
        "lambdagram/broadcasts.py",
        "if mark == ARGV[2] then return 1 end\nreturn 0\n",
        "if mark == ARGV[2] then return 1 end\nreturn 1\n",
        ("tests/lambdagram/test_broadcasts.py",),
    ),
    Mutant(
        "a recipient's mark Redis ran twice (a stall) is taken for another run's",
        "lambdagram/broadcasts.py",
        "if mark == ARGV[2] then return 1 end\nreturn 0\n",
        "return 0\n",
        ("tests/lambdagram/test_broadcasts.py",),
    ),
    Mutant(
        "a recipient's outcome Redis ran twice (a stall) is counted twice",
        "lambdagram/broadcasts.py",
        "if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end\n"
        "redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])",
        "redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])",
        ("tests/lambdagram/test_broadcasts.py",),
    ),
    Mutant(
        "resend-unconfirmed sends to those a cancel spared",
        "lambdagram/broadcasts.py",
        '    part, at = ("again", "again_cursor") if resending else ("to", "cursor")',
        '    part, at = ("to", "again_cursor") if resending else ("to", "cursor")',
        ("tests/lambdagram/test_broadcasts.py",),
    ),
    Mutant(
        "a broadcast's 429 is not waited out by the senders",
        "lambdagram/broadcasts.py",
        "await self.rate.pause(error.retry_after)  # every worker waits, as asked",
        "pass  # every worker waits, as asked",
        ("tests/lambdagram/test_broadcasts.py",),
    ),
    Mutant(
        "a broadcast that does not fit one invocation stops without its next round",
        "lambdagram/broadcasts.py",
        "            await enqueue(runtime.queue, broadcast, round_ + 1)\n",
        "",
        ("tests/lambdagram/test_broadcasts.py",),
    ),
    Mutant(
        "a blocked recipient is tried again by the next broadcast",
        "lambdagram/broadcasts.py",
        "            await self.store.remember_unreachable(chat)\n",
        "            pass\n",
        ("tests/lambdagram/test_broadcasts.py",),
    ),
    Mutant(
        "a broadcast's 5xx or proxy page is not retried",
        "lambdagram/broadcasts.py",
        "                elif verdict is failures.Verdict.RETRY:",
        "                elif False:",
        ("tests/lambdagram/test_broadcasts.py",),
    ),
    Mutant(
        "a refused token fails every recipient instead of halting the round",
        "lambdagram/broadcasts.py",
        '                    self._halt(f"the Bot API refused every send: {_reason(error)}")\n'
        '                    return "halt", ""',
        '                    return "failed", _reason(error)',
        ("tests/lambdagram/test_broadcasts.py",),
    ),
    Mutant(
        "a broadcast waits out a retry_after longer than its worker has",
        "lambdagram/broadcasts.py",
        "        if left is not None and wait > left - RESERVE / 3:",
        "        if False:",
        ("tests/lambdagram/test_broadcasts.py",),
    ),
    Mutant(
        "a broadcast's failure reason keeps a secret",
        "lambdagram/broadcasts.py",
        'outcome = f"{kind}:{redact(reason)}"[:100]',
        'outcome = f"{kind}:{reason}"[:100]',
        ("tests/lambdagram/test_broadcasts.py",),
    ),
    Mutant(
        "a broadcast's marks live for ever",
        "lambdagram/broadcasts.py",
        "                pipe.expire(key, KEEP)\n            await pipe.execute()",
        "                pass\n            await pipe.execute()",
        ("tests/lambdagram/test_broadcasts.py",),
    ),
    Mutant(
        "the broadcast CLI takes 1_000 for a chat id",
        "lambdagram/broadcast_cli.py",
        "        if not CHAT_ID.fullmatch(text) or",
        "        if not text.lstrip('-+').replace('_', '').isdigit() or",
        ("tests/lambdagram/test_broadcasts.py",),
    ),
    # what outlives the webhook, under faults (issue 31)
    Mutant(
        "a handler cut off by the deadline twice is run again and again",
        "lambdagram/delivery.py",
        "if runs >= tonumber(ARGV[2]) then "
        "redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[1]) end\n",
        "",
        ("tests/lambdagram/test_long_work.py",),
    ),
    Mutant(
        "an out_of_time answer names no handler",
        "lambdagram/dispatch.py",
        "    handler = running_handler(error)\n",
        "    handler = None\n",
        ("tests/lambdagram/test_long_work.py",),
    ),
    Mutant(
        "a given-up update tells the bot nothing",
        "lambdagram/dispatch.py",
        "        await _tell_the_bot(runtime, dispatcher, update, reason)\n"
        '    return {"ok": True, "dead_letter": True}',
        '        pass\n    return {"ok": True, "dead_letter": True}',
        ("tests/lambdagram/test_long_work.py",),
    ),
    Mutant(
        "a timer that fires during long work runs ahead of it",
        "lambdagram/job_runs.py",
        'queue_mode="work" if from_queue else "web" if runtime.queue is not None else "",',
        'queue_mode="work" if from_queue else "",',
        ("tests/lambdagram/test_long_work.py",),
    ),
    Mutant(
        "an album closed during long work is handled ahead of it",
        "lambdagram/album_updates.py",
        "            queued_as=album_message(raw),\n",
        "            queued_as=None,\n",
        ("tests/lambdagram/test_albums.py",),
    ),
    Mutant(
        "a Scheduler failure in a handler drops the step",
        "lambdagram/dispatch.py",
        "    except ServiceError as error:\n"
        '        raise await service_given_back(claim, error, "during the handler") from None\n',
        "",
        ("tests/lambdagram/test_timers.py",),
    ),
    Mutant(
        "a Bot API failure after the handler sent a message runs it again",
        "lambdagram/dispatch.py",
        "    if not sends.count:\n        raise await given_back(claim, error, doing) from None",
        "    if True:\n        raise await given_back(claim, error, doing) from None",
        ("tests/lambdagram/test_long_work.py",),
    ),
    Mutant(
        "a 429 that fits in the time left is not waited out",
        "lambdagram/session.py",
        "            if sends is None or "
        "(left is not None and error.retry_after + CALL_ROOM > left):",
        "            if True:",
        ("tests/lambdagram/test_long_work.py",),
    ),
    Mutant(
        "what main() starts besides polling keeps running",
        "lambdagram/polling_main.py",
        "    for task in tasks:\n        task.cancel()\n",
        "    tasks = set()\n",  # nothing cancelled, nothing awaited (a gather would hang)
        ("tests/lambdagram/test_polling_main.py",),
    ),
    Mutant(
        "a Bot API refusal main() swallows is lost",
        "lambdagram/polling_main.py",
        "    if refusals:\n        raise refusals[0]\n",
        "",
        ("tests/lambdagram/test_polling_main.py",),
    ),
    Mutant(
        "the kit's restart keeps a polling bot's namespace packages",
        "lambdagram/testing.py",
        '            paths += [str(p) for p in getattr(module, "__path__", None) or ()]\n',
        "",
        ("tests/lambdagram/test_testing.py",),
    ),
    Mutant(
        "a queue message nested too deeply fails its whole batch",
        "lambdagram/worker.py",
        "    except RecursionError:\n",
        "    except ArithmeticError:\n",
        ("tests/lambdagram/test_long_work.py",),
    ),
    Mutant(
        "a malformed job event is retried as a 500",
        "lambdagram/job_runs.py",
        "    if malformed or isinstance(chat_id, bool):",
        "    if False:",
        ("tests/lambdagram/test_timers.py",),
    ),
    Mutant(
        "a 404 says where a secret webhook path is",
        "lambdagram/app.py",
        'raise NotFound("no such path")',
        'raise NotFound(f"no such path; the webhook is at {self.settings.webhook_path}")',
        ("tests/lambdagram/test_app.py",),
    ),
    Mutant(
        "what dies in the long-work DLQ is run from it",
        "lambdagram/worker.py",
        '        if dead and record.get("eventSourceARN") == dead:',
        "        if False:",
        ("tests/lambdagram/test_long_work.py",),
    ),
    Mutant(
        "a replayed given-up update is taken for one already processed",
        "lambdagram/deadletter_cli.py",
        "        await forget_given_up(runtime.scripts, slot, letter.update_id)",
        "        pass",
        ("tests/lambdagram/test_long_work.py",),
    ),
    # timers (issue 17)
    Mutant(
        "a timer delivered twice runs twice",
        "lambdagram/job_runs.py",
        "    return f\"job:{event.get('timer')}:{event.get('at')}\"\n",
        "    return f\"job:{event.get('timer')}:{event.get('at')}:{id(event)}\"\n",
        ("tests/lambdagram/test_timers.py",),
    ),
    Mutant(
        "lost lock committed anyway",
        "lambdagram/dispatch.py",
        "    if not committed:\n        blocked",
        "    if False:\n        blocked",
        ("tests/lambdagram/test_hardening.py",),
    ),
    Mutant(
        "fsm writes outside the atomic commit",
        "lambdagram/dispatch.py",
        "    own = [w for w in writes if tag in w.key]\n"
        "    others = [w for w in writes if tag not in w.key]",
        "    own: list[Write] = []\n    others = list(writes)",
        ("tests/lambdagram/test_hardening.py",),
    ),
    Mutant(
        "chat busy answered 200",
        "lambdagram/dispatch.py",
        "    except ChatBusy as busy:\n        count(Metric.LOCK_TIMEOUTS)\n",
        "    except ChatBusy as busy:\n        count(Metric.LOCK_TIMEOUTS)\n        return {}\n",
        ("tests/test_managed_redis.py",),
    ),
    Mutant(
        "remaining time ignored in the lock wait",
        "lambdagram/budget.py",
        "    return configured if remaining is None else",
        "    return configured if True else",
        ("tests/lambdagram/test_hardening.py",),
    ),
    Mutant(
        "claim kept on a redis error in a handler",
        "lambdagram/dispatch.py",
        "    except RedisError as error:\n        await claim.abandon()\n"
        "        raise unavailable(error) from None\n    except TimeoutError",
        "    except RedisError as error:\n        raise unavailable(error) from None\n"
        "    except TimeoutError",
        ("tests/lambdagram/test_hardening.py",),
    ),
    Mutant(
        "413 at exactly the limit",
        "lambdagram/asgi.py",
        "        if size > limit:",
        "        if size >= limit:",
        ("tests/lambdagram/test_app.py",),
    ),
    Mutant(
        "no streaming size check",
        "lambdagram/asgi.py",
        "        if size > limit:",
        "        if False:",
        ("tests/lambdagram/test_app.py",),
    ),
    Mutant(
        "no content-length check",
        "lambdagram/asgi.py",
        "and int(declared) > limit:",
        "and False:",
        ("tests/lambdagram/test_app.py",),
    ),
    Mutant(
        "after-restore hook does nothing",
        "lambdagram/snapstart.py",
        "    register_after_restore(lambda: restored(app))",
        "    register_after_restore(lambda: None)",
        ("tests/lambdagram/test_snapstart.py",),
    ),
    Mutant(
        "no poison limit",
        "lambdagram/delivery.py",
        "if attempt > tonumber(ARGV[4]) then",
        "if false then",
        ("tests/lambdagram/test_delivery.py",),
    ),
    Mutant(
        "no chat waiter bound",
        "lambdagram/delivery.py",
        "if redis.call('ZCARD', KEYS[4]) >= tonumber(ARGV[7]) then",
        "if false then",
        ("tests/lambdagram/test_delivery.py",),
    ),
    Mutant(
        "log lines not redacted",
        "lambdagram/redaction.py",
        "        return redact(super().format(record))",
        "        return super().format(record)",
        ("tests/lambdagram/test_hardening.py",),
    ),
    Mutant(
        "undecodable bot api answer not retried",
        "lambdagram/dispatch.py",
        "    ClientDecodeError,  # an answer",
        "    # ClientDecodeError,  # an answer",
        ("tests/lambdagram/test_hardening.py",),
    ),
    Mutant(
        "dead letters stored twice",
        "lambdagram/deadletter.py",
        "if redis.call('SISMEMBER', KEYS[2], ARGV[2]) == 1 then return 0 end",
        "",
        ("tests/lambdagram/test_updates.py",),
    ),
    Mutant(
        "startup hooks every update",
        "lambdagram/blueprint.py",
        "        self._started = True\n",
        "\n",
        ("tests/lambdagram/test_blueprint.py",),
    ),
    Mutant(
        "album part's mark kept an hour, not a day",
        "lambdagram/album_updates.py",
        "            DONE_TTL,\n            closer_ttl,",
        "            albums.ALBUM_TTL,\n            closer_ttl,",
        ("tests/lambdagram/test_albums.py",),
    ),
    Mutant(
        "album closer waits out its limit",
        "lambdagram/albums.py",
        "        if idle >= quiet or left <= 0:",
        "        if left <= 0:",
        ("tests/lambdagram/test_albums.py",),
    ),
    Mutant(
        "album sorted by the message id's text",
        "lambdagram/albums.py",
        "for k in sorted(stored, key=int)]",
        "for k in sorted(stored)]",
        ("tests/lambdagram/test_albums.py",),
    ),
    Mutant(
        "json-escaped secret not learned",
        "lambdagram/redaction.py",
        "spellings.update({secret, json.dumps(secret)[1:-1], _quoted(secret)})",
        "spellings.update({secret, _quoted(secret)})",
        ("tests/lambdagram/test_redaction.py",),
    ),
    Mutant(
        "url-quoted secret not learned",
        "lambdagram/redaction.py",
        "spellings.update({secret, json.dumps(secret)[1:-1], _quoted(secret)})",
        "spellings.update({secret, json.dumps(secret)[1:-1]})",
        ("tests/lambdagram/test_redaction.py",),
    ),
    Mutant(
        "library records not redacted",
        "lambdagram/redaction.py",
        "        record.msg = redact(record.getMessage())",
        "        record.msg = record.getMessage()",
        ("tests/lambdagram/test_redaction.py",),
    ),
    Mutant(
        "poll skips a 409",
        "lambdagram/tools/poll.py",
        "if status != 409 and 400 <= status < 500:",
        "if 400 <= status < 500:",
        ("tests/lambdagram/local/test_poll.py",),
    ),
    Mutant(
        "poll's retry pause never doubles",
        "lambdagram/tools/poll.py",
        'pause = self.pauses[min(attempt, len(self.pauses) - 1)]\n            self.say(f"update',
        'pause = self.pauses[0]\n            self.say(f"update',
        ("tests/lambdagram/local/test_poll.py",),
    ),
    Mutant(
        "poll confirms an update interrupted in its retry pause",
        "lambdagram/tools/poll.py",
        "                return  # not confirmed",
        "                break  # not confirmed",
        ("tests/lambdagram/local/test_poll.py",),
    ),
    Mutant(
        "aiogram's per-update line not silenced",
        "lambdagram/observability.py",
        'logging.getLogger("aiogram.event").setLevel(logging.WARNING)',
        "",
        ("tests/lambdagram/test_observability.py",),
    ),
    Mutant(
        "no depth check of our own",
        "lambdagram/parsing.py",
        "    if too_deep(raw):",
        "    if False:",
        ("tests/lambdagram/test_hardening.py",),
    ),
    Mutant(
        "a waiter that got the lock still counts",
        "lambdagram/delivery.py",
        "leave()\nlocal attempt",
        "local attempt",
        ("tests/lambdagram/test_delivery.py",),
    ),
    Mutant(
        "a replayed dead letter keeps its bytes",
        "lambdagram/deadletter.py",
        "redis.call('DECRBY', KEYS[3], #ARGV[1])\nreturn 1",
        "return 1",
        ("tests/lambdagram/test_deadletter.py",),
    ),
    Mutant(
        "source check reads x-forwarded-for",
        "lambdagram/app.py",
        '    client = scope.get("client")\n    try:',
        '    hops = dict(scope["headers"]).get(b"x-forwarded-for", b"").decode().split(",")\n'
        '    client = (hops[0].strip(), 0) if hops[0] else scope.get("client")\n    try:',
        ("tests/lambdagram/test_hardening.py",),
    ),
    Mutant(
        "CHAT_WAITERS ignored",
        "lambdagram/dispatch.py",
        '        max_waiters=runtime.settings.chat_waiters if mode != "work" else 1000,\n',
        "",
        ("tests/lambdagram/test_updates.py",),
    ),
    Mutant(
        "a commit run again is not recognised",
        "lambdagram/delivery.py",
        "if redis.call('GET', KEYS[1]) == mark then return 1 end\n",
        "",
        ("tests/test_outages.py",),
    ),
    Mutant(
        "a claim run again is not recognised",
        "lambdagram/delivery.py",
        "  if seen == 'p:' .. token then leave() return claimed() end\n",
        "",
        ("tests/test_outages.py",),
    ),
    Mutant(
        "no second run after a timeout",
        "lambdagram/delivery.py",
        "        deadline = time.monotonic() + patience\n",
        "        deadline = time.monotonic()\n",
        ("tests/test_outages.py",),
    ),
    Mutant(
        "an accepted call with an unreadable answer retried",
        "lambdagram/session.py",
        "                raise AcceptedButUnreadable(method, status_code, error) from error\n",
        "                raise\n",
        ("tests/lambdagram/test_hardening.py",),
    ),
    Mutant(
        "a 429 without retry_after taken as a refusal",
        "lambdagram/session.py",
        "            if status_code == HTTPStatus.TOO_MANY_REQUESTS:",
        "            if False:",
        ("tests/lambdagram/test_hardening.py",),
    ),
]


def tree_files() -> list[str]:
    """The files git knows here, tracked or new (not ignored): what the tests need."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    return [name for name in listed.decode().split("\0") if name and (ROOT / name).is_file()]


def copy_tree(files: list[str], into: Path) -> None:
    """The files, as a clone would have them: a git repository with each of them tracked
    (tests ask git which files the repository has)."""
    for name in files:
        target = into / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((ROOT / name).read_bytes())
        target.chmod((ROOT / name).stat().st_mode)
    git = ["git", "-c", "user.name=mutants", "-c", "user.email=mutants@localhost"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "tree"]):
        subprocess.run([*git, *args], cwd=into, check=True, capture_output=True)


def misplaced(mutants: list[Mutant]) -> list[str]:
    """The mutants whose text is not in their file exactly once (re-point them)."""
    return [
        f"{m.name}: {m.old!r} is in {m.path} {(ROOT / m.path).read_text().count(m.old)} times"
        for m in mutants
        if (ROOT / m.path).read_text().count(m.old) != 1
    ]


def run(mutant: Mutant, python: str, files: list[str]) -> tuple[bool, float, str]:
    """Apply ``mutant`` to a copy of the tree and run the tests; (killed, seconds, by what)."""
    with tempfile.TemporaryDirectory(prefix="lambdagram-mutant-") as tmp:
        copy = Path(tmp) / "tree"
        copy_tree(files, copy)
        target = copy / mutant.path
        text = target.read_text()
        if text.count(mutant.old) != 1:
            msg = f"{mutant.name}: {mutant.old!r} is not in {mutant.path} exactly once"
            raise SystemExit(msg)
        target.write_text(text.replace(mutant.old, mutant.new))
        started = time.monotonic()
        for tests in ([*mutant.tests], TESTS) if mutant.tests else (TESTS,):
            result = subprocess.run(
                [python, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests],
                cwd=copy,
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode == 1:  # tests failed: the break was noticed
                return True, time.monotonic() - started, _failed(result.stdout)
            if result.returncode != 0:  # not a verdict: the copy or the run is broken
                tail = "\n".join((result.stdout + result.stderr).splitlines()[-15:])
                msg = f"{mutant.name}: pytest exited {result.returncode}, not a verdict:\n{tail}"
                raise SystemExit(msg)
        return False, time.monotonic() - started, ""


def _failed(output: str) -> str:
    """The test that noticed (pytest's first ``FAILED`` or ``ERROR`` line)."""
    for line in output.splitlines():
        if line.startswith(("FAILED tests/", "ERROR tests/")):  # not a captured log line
            return line.split(" ", 1)[1].split(" - ")[0]
    return "?"


def main(names: list[str]) -> int:
    unknown = set(names) - {m.name for m in MUTANTS}
    if unknown:
        raise SystemExit(f"no mutant named {sorted(unknown)}")
    chosen = [m for m in MUTANTS if m.control or not names or m.name in names]
    if errors := misplaced(chosen):
        print("\n".join(["error: re-point these mutants, then run again:", *errors]))
        return 2
    python = sys.executable
    files = tree_files()
    wrong = []
    for mutant in chosen:
        killed, seconds, by = run(mutant, python, files)
        verdict = "killed  " if killed else "SURVIVED"
        if mutant.control:
            verdict = "KILLED: the runs are not to be trusted" if killed else "survived"
        noticed = f", by {by}" if killed else ""
        print(f"{verdict} {mutant.name} ({seconds:.0f} s{noticed})", flush=True)
        if killed is mutant.control:
            wrong.append(mutant.name)
    breaks = [m for m in chosen if not m.control]
    killed_breaks = len(breaks) - len([m for m in breaks if m.name in wrong])
    print(f"{killed_breaks} of {len(breaks)} mutants killed; the control survived: "
          f"{'no' if CONTROL in wrong else 'yes'}")  # fmt: skip
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
