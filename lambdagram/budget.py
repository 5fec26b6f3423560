"""The invocation's time budget: every wait ends before Lambda would stop the function.

Lambda kills an invocation at its timeout; Telegram then sees no answer and, worse, any
half-done work is cut wherever it was. `start` notes the deadline from the Lambda context
(less `RESERVE` to answer in); the lock wait leaves room for a Bot API call after it, and the
handlers run under a timeout at the deadline with their Bot API calls' client timeout
capped to what is left. Outside Lambda (no context) there is no deadline.
"""

from __future__ import annotations

import time
from contextvars import ContextVar
from typing import Any

RESERVE = 1.0  # seconds kept to answer after the last wait

_deadline: ContextVar[float | None] = ContextVar("lambdagram_deadline", default=None)


def start(context: Any) -> None:
    """Begin an invocation's budget from its Lambda context (none without a context)."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    deadline = None if remaining is None else time.monotonic() + remaining() / 1000 - RESERVE
    _deadline.set(deadline)


def left() -> float | None:
    """Seconds until the deadline (never below 0), or None when there is none."""
    deadline = _deadline.get()
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def lock_wait(configured: float, after: float) -> float:
    """``LOCK_WAIT``, capped so ``after`` seconds (a Bot API call) still fit in the budget."""
    remaining = left()
    return configured if remaining is None else max(0.0, min(configured, remaining - after))
