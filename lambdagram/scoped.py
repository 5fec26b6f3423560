"""A context variable set for the length of a ``with`` block.

How the engine hands an update's services (its FSM storage, timers, broadcasts, how long
handlers run) to the handlers and to the tasks they start, without globals: the engine binds
them around ``feed_update``, and asyncio copies the context into every task started inside.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar


@contextlib.contextmanager
def bound[T](variable: ContextVar[T], value: T) -> Iterator[T]:
    """``variable`` is ``value`` while the body runs, then what it was."""
    token = variable.set(value)
    try:
        yield value
    finally:
        variable.reset(token)
