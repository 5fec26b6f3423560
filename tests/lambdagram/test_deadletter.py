"""Dead letters after a replay: the capped list's room comes back (the capping itself and
keeping each update once are tested through the webhook in test_updates.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from redis.asyncio import Redis as AsyncRedis

from lambdagram import deadletter

BOT_ID = 123456789


def update(update_id: int, size: int = 1000) -> dict[str, Any]:
    return {"update_id": update_id, "poll_answer": {"poll_id": "x" * size}}


def kept_ids(run: Callable[..., Any], redis: AsyncRedis) -> list[int]:
    return [letter.update_id for letter in run(deadletter.entries(redis, BOT_ID))]


def test_replayed_entries_give_their_bytes_back_to_the_cap(
    async_redis: AsyncRedis, run: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a byte cap that holds three of these updates
    monkeypatch.setattr(deadletter, "MAX_BYTES", 3500)

    # When many are kept and replayed (removed) one after another
    for update_id in range(10, 20):
        run(deadletter.push(async_redis, BOT_ID, update(update_id), "poison"))
        [letter] = run(deadletter.entries(async_redis, BOT_ID))
        run(deadletter.remove(async_redis, BOT_ID, letter))

    # Then the cap still has room for three: nothing is dropped early
    for update_id in (30, 31, 32):
        run(deadletter.push(async_redis, BOT_ID, update(update_id), "poison"))
    assert kept_ids(run, async_redis) == [30, 31, 32]
