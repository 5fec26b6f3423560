"""FSM storage for one update: reads from Redis once, writes nothing until the commit.

aiogram's `RedisStorage` writes each ``set_state``/``set_data`` as it happens, so a Redis
failure between two of them leaves half a step behind (the state moved on, the data did
not). `BufferedStorage` keeps the update's writes in memory; `bot.delivery` commits them
together with the update's dedupe mark and lock release in one atomic script, or not at
all. The chat's state and data arrive with the lock (no extra round trip); keys of other
chats are read through the wrapped `RedisStorage` when a handler asks for them.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, KeyBuilder, StateType, StorageKey
from aiogram.fsm.storage.redis import RedisStorage

from lambdagram.scoped import bound


@dataclass(frozen=True, slots=True)
class Write:
    """One key to set (``value`` with ``ttl`` seconds, None for no expiry) or delete (None)."""

    key: str
    value: str | None
    ttl: int | None


class BufferedStorage(BaseStorage):
    """A per-update view of the FSM storage with deferred writes."""

    def __init__(self, inner: RedisStorage) -> None:
        self.inner = inner
        self.key_builder: KeyBuilder = inner.key_builder
        self._states: dict[StorageKey, str | None] = {}
        self._data: dict[StorageKey, dict[str, Any]] = {}
        self._dirty_states: set[StorageKey] = set()
        self._dirty_data: set[StorageKey] = set()

    def preload(
        self, key: StorageKey, state: bytes | str | None, data: bytes | str | None
    ) -> None:
        """Seed ``key`` with the raw values the claim read from Redis."""
        self._states[key] = state.decode() if isinstance(state, bytes) else state
        self._data[key] = json.loads(data) if data else {}

    async def get_state(self, key: StorageKey) -> str | None:
        if key not in self._states:
            self._states[key] = await self.inner.get_state(key)
        return self._states[key]

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        self._states[key] = state.state if isinstance(state, State) else state
        self._dirty_states.add(key)

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        if key not in self._data:
            self._data[key] = await self.inner.get_data(key)
        return dict(self._data[key])

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        self._data[key] = dict(data)
        self._dirty_data.add(key)

    async def close(self) -> None:
        """Nothing to close: the Redis pool belongs to the process."""

    def writes(self) -> list[Write]:
        """What the update changed, as Redis writes (RedisStorage's format and TTLs)."""
        build = self.key_builder.build
        writes = [
            Write(build(key, "state"), self._states[key], _ttl_seconds(self.inner.state_ttl))
            for key in self._dirty_states
        ]
        for key in self._dirty_data:
            data = self._data[key]
            value = self.inner.json_dumps(data) if data else None
            writes.append(Write(build(key, "data"), value, _ttl_seconds(self.inner.data_ttl)))
        return writes


def _ttl_seconds(ttl: Any) -> int | None:
    """aiogram's TTL (int seconds or timedelta) as whole seconds, None for no expiry."""
    if ttl is None:
        return None
    seconds = int(ttl.total_seconds()) if hasattr(ttl, "total_seconds") else int(ttl)
    return seconds or None


_current: ContextVar[BaseStorage | None] = ContextVar("lambdagram_update_storage", default=None)


class UpdateStorage(BaseStorage):
    """The FSM storage of the update being handled, for the bot's own (blueprint) Dispatcher.

    Updates that libraries feed to the bot's root Dispatcher themselves, outside the
    Dispatcher the engine built for the update (aiogram-dialog's background managers:
    ``dialog_manager.bg()`` propagates a ``DialogUpdate`` there from a task), would read and
    write that Dispatcher's own storage (in memory, per process). With this in its place they
    use the update's `BufferedStorage`: their writes are in the update's commit, under its
    chat's lock. Outside an update (no storage set) they fall back to ``fallback``.
    """

    def __init__(self, fallback: BaseStorage) -> None:
        self.fallback = fallback

    @staticmethod
    def serving(storage: BaseStorage) -> contextlib.AbstractContextManager[BaseStorage | None]:
        """Make ``storage`` the current update's while the body runs (tasks it starts too)."""
        return bound(_current, storage)

    def _storage(self) -> BaseStorage:
        return _current.get() or self.fallback

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        await self._storage().set_state(key, state)

    async def get_state(self, key: StorageKey) -> str | None:
        return await self._storage().get_state(key)

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        await self._storage().set_data(key, data)

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        return await self._storage().get_data(key)

    async def close(self) -> None:
        await self.fallback.close()
