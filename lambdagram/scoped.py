"""A context variable set for the length of a ``with`` block.

How the engine hands an update's services (its FSM storage, timers, broadcasts, how long
handlers run) to the handlers and to the tasks they start, without globals: the engine binds
them around ``feed_update``, and asyncio copies the context into every task started inside.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from types import TracebackType


class bound[T]:  # noqa: N801 - used as a function: ``with bound(variable, value):``
    """``variable`` is ``value`` while the body runs, then what it was.

    A class rather than a ``@contextmanager`` generator: several are entered per update.
    """

    __slots__ = ("_token", "value", "variable")

    def __init__(self, variable: ContextVar[T], value: T) -> None:
        self.variable = variable
        self.value = value
        self._token: Token[T] | None = None

    def __enter__(self) -> T:
        self._token = self.variable.set(self.value)
        return self.value

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._token is not None
        self.variable.reset(self._token)
        self._token = None
