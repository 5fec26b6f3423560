"""Cheap handler objects: remember what aiogram learns from each handler's signature.

aiogram makes a ``CallableObject`` for every handler and filter, and also a dummy
``lambda: True`` in each of the ~26 event observers of every router and Dispatcher, and runs
``inspect.signature`` on each (~30 µs apiece): at the bot's configuration, for every router a
factory makes, and for the one handler each update's Dispatcher gets (`lambdagram.blueprint`).
What it keeps (is it a coroutine, its parameter names, does it take
``**kwargs``) depends only on the code behind the callable, so `install` caches it per code
object: a plain function's, a bound method's function's, or a callable instance's class
(filters such as ``Command``). Anything else, or anything carrying attributes that
``inspect`` would honour (a ``__signature__``, a coroutine marker), takes aiogram's own
path every time.
"""

from __future__ import annotations

import inspect
from collections.abc import Hashable
from types import FunctionType, MethodType
from typing import Any

from aiogram.dispatcher.event.handler import CallableObject, HandlerObject

_Learned = tuple[bool, frozenset[str], bool]
_cache: dict[Hashable, _Learned] = {}
_original = CallableObject.__post_init__
_original_handler = HandlerObject.__post_init__


def _key(callback: Any) -> Hashable | None:
    """What the signature facts of ``callback`` depend on, or None if that is unclear."""
    if type(callback) is FunctionType:
        return None if callback.__dict__ else callback.__code__
    if type(callback) is MethodType:
        function = callback.__func__
        if type(function) is FunctionType and not function.__dict__:
            return ("method", function.__code__)
        return None
    call = type(callback).__dict__.get("__call__")
    if (
        type(call) is FunctionType
        and not hasattr(type(callback), "__signature__")
        and "__signature__" not in getattr(callback, "__dict__", {})
    ):
        return ("instance", type(callback))
    return None


def _cached_post_init(self: CallableObject) -> None:
    callback = self.callback
    # a function without attributes has no __wrapped__ to follow: skip inspect.unwrap
    if type(callback) is not FunctionType or callback.__dict__:
        callback = inspect.unwrap(callback)
    key = _key(callback)
    if key is None:
        _original(self)
        return
    learned = _cache.get(key)
    if learned is None:
        _original(self)
        _cache[key] = (self.awaitable, frozenset(self.params), self.varkw)
        return
    self.awaitable, params, self.varkw = learned
    self.params = set(params)


def _handler_post_init(self: HandlerObject) -> None:
    callback = self.callback
    if type(callback) is FunctionType and not callback.__dict__:
        # not a class, nothing to unwrap, no aiogram flags: only the signature facts
        _cached_post_init(self)
        return
    _original_handler(self)


def install() -> None:
    """Cache signature facts for plain-function handlers and filters (idempotent)."""
    CallableObject.__post_init__ = _cached_post_init  # type: ignore[method-assign]
    HandlerObject.__post_init__ = _handler_post_init  # type: ignore[method-assign]


def uninstall() -> None:
    """aiogram's own behaviour again (tests compare the two)."""
    CallableObject.__post_init__ = _original  # type: ignore[method-assign]
    HandlerObject.__post_init__ = _original_handler  # type: ignore[method-assign]
    _cache.clear()
