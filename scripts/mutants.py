"""``make mutants``: break the engine's critical lines one at a time; the tests must notice.

Each mutant is one small, plausible change (a condition inverted, a check dropped, a reply
answered 200). It is applied to a copy of the tree, the engine's fast tests run there
(``-x``, stopping at the first failure), and the mutant is *killed* if they fail. A mutant
that survives is a promise no test guards. Exit code 1 if any survived.

    .venv/bin/python scripts/mutants.py [NAME ...]   # all mutants, or the ones named
"""

from __future__ import annotations

import shutil
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


MUTANTS = [
    Mutant(
        "lost lock committed anyway",
        "lambdagram/updates.py",
        "    if not committed:\n        blocked",
        "    if False:\n        blocked",
    ),
    Mutant(
        "fsm writes outside the atomic commit",
        "lambdagram/updates.py",
        "    own = [w for w in writes if tag in w.key]\n"
        "    others = [w for w in writes if tag not in w.key]",
        "    own: list[Write] = []\n    others = list(writes)",
    ),
    Mutant(
        "chat busy answered 200",
        "lambdagram/updates.py",
        "    except ChatBusy as busy:\n        count(Metric.LOCK_TIMEOUTS)\n",
        "    except ChatBusy as busy:\n        count(Metric.LOCK_TIMEOUTS)\n        return {}\n",
    ),
    Mutant(
        "remaining time ignored in the lock wait",
        "lambdagram/budget.py",
        "    return configured if remaining is None else",
        "    return configured if True else",
    ),
    Mutant(
        "claim kept on a redis error in a handler",
        "lambdagram/updates.py",
        "    except RedisError as error:\n        await claim.abandon()\n"
        "        raise _unavailable(error) from None\n    except TimeoutError",
        "    except RedisError as error:\n        raise _unavailable(error) from None\n"
        "    except TimeoutError",
    ),
    Mutant(
        "413 at exactly the limit",
        "lambdagram/asgi.py",
        "        if size > limit:",
        "        if size >= limit:",
    ),
    Mutant(
        "no streaming size check",
        "lambdagram/asgi.py",
        "        if size > limit:",
        "        if False:",
    ),
    Mutant(
        "no content-length check", "lambdagram/asgi.py", "and int(declared) > limit:", "and False:"
    ),
    Mutant(
        "after-restore hook does nothing",
        "lambdagram/snapstart.py",
        "register_after_restore(app.forget_clients)",
        "register_after_restore(lambda: None)",
    ),
    Mutant(
        "no poison limit",
        "lambdagram/delivery.py",
        "if attempt > tonumber(ARGV[4]) then",
        "if false then",
    ),
    Mutant(
        "no chat waiter bound",
        "lambdagram/delivery.py",
        "if redis.call('INCR', KEYS[4]) > tonumber(ARGV[7]) then",
        "if redis.call('INCR', KEYS[4]) > 1000000 then",
    ),
    Mutant(
        "log lines not redacted",
        "lambdagram/redaction.py",
        "        return redact(super().format(record))",
        "        return super().format(record)",
    ),
    Mutant(
        "undecodable bot api answer not retried",
        "lambdagram/updates.py",
        "    ClientDecodeError,  # an answer",
        "    # ClientDecodeError,  # an answer",
    ),
    Mutant(
        "dead letters stored twice",
        "lambdagram/deadletter.py",
        "if redis.call('SISMEMBER', KEYS[2], ARGV[2]) == 1 then return 0 end",
        "",
    ),
    Mutant(
        "startup hooks every update",
        "lambdagram/blueprint.py",
        "        self._started = True\n",
        "\n",
    ),
]


def run(mutant: Mutant, python: str) -> tuple[bool, float]:
    """Apply ``mutant`` to a copy of the tree and run the tests; (killed, seconds)."""
    with tempfile.TemporaryDirectory(prefix="lambdagram-mutant-") as tmp:
        copy = Path(tmp) / "tree"
        shutil.copytree(
            ROOT,
            copy,
            ignore=shutil.ignore_patterns(".venv", "node_modules", "dist", ".git", "__pycache__"),
        )
        target = copy / mutant.path
        text = target.read_text()
        if text.count(mutant.old) != 1:
            msg = f"{mutant.name}: {mutant.old!r} is not in {mutant.path} exactly once"
            raise SystemExit(msg)
        target.write_text(text.replace(mutant.old, mutant.new))
        started = time.monotonic()
        result = subprocess.run(
            [python, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *TESTS],
            cwd=copy,
            capture_output=True,
            text=True,
            check=False,
        )
        return result.returncode != 0, time.monotonic() - started


def main(names: list[str]) -> int:
    chosen = [m for m in MUTANTS if not names or m.name in names]
    python = sys.executable
    survived = []
    for mutant in chosen:
        killed, seconds = run(mutant, python)
        print(
            f"{'killed  ' if killed else 'SURVIVED'} {mutant.name} ({seconds:.0f} s)", flush=True
        )
        if not killed:
            survived.append(mutant.name)
    print(f"{len(chosen) - len(survived)} of {len(chosen)} mutants killed")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
