"""Magic filters (``F.text``) and state filters (``Form.name``) evaluated on the event loop.

aiogram calls every filter that is not a coroutine function through ``asyncio.to_thread``:
a magic filter's callback is ``MagicFilter.resolve`` and a state used as a filter is called
through ``State.__call__``, both plain functions, so each of them, for each handler tried,
costs a hop to the default thread pool and back (a few tens of microseconds, and a wait on
the GIL's 5 ms switch interval when the loop's thread is busy: a source of the warm tail;
5.6 hops per update of the example bot's questionnaire). Both are attribute lookups and
comparisons, so `install` evaluates them inline (0 hops); every other sync filter and sync
handler still goes to a thread, as aiogram does. A ``.func(...)`` inside a magic filter runs inline
too: it should not block (neither should one under polling, where it runs on a thread of
the same process).
"""

from __future__ import annotations

from typing import Any

from aiogram.dispatcher.event.handler import FilterObject
from aiogram.fsm.state import State, StatesGroup

_original_call = FilterObject.call
_PURE_CALLS = {State: State.__call__, StatesGroup: StatesGroup.__call__}


def _pure(filter_: FilterObject) -> bool:
    """A magic filter (its callback is ``magic.resolve``) or aiogram's own state check (not a
    subclass that overrides ``__call__``)."""
    if filter_.magic is not None:
        return True
    callback = filter_.callback
    for kind, call in _PURE_CALLS.items():
        if isinstance(callback, kind) and type(callback).__call__ is call:
            return True
    return False


async def _call(self: FilterObject, *args: Any, **kwargs: Any) -> Any:
    if _pure(self):
        return self.callback(*args, **self._prepare_kwargs(kwargs))
    return await _original_call(self, *args, **kwargs)


def install() -> None:
    """Evaluate magic and state filters inline (idempotent)."""
    FilterObject.call = _call  # type: ignore[method-assign,assignment]


def uninstall() -> None:
    """aiogram's own behaviour again (tests compare the two)."""
    FilterObject.call = _original_call  # type: ignore[method-assign]
