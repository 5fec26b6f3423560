"""The claim protocol: dedupe, a bounded per-chat lock, atomic commit, and giving back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis
from redis.asyncio import Redis as AsyncRedis

from lambdagram.delivery import (
    ChatBusy,
    ChatCrowded,
    Claim,
    Duplicate,
    InFlight,
    Poisoned,
    Scripts,
)
from lambdagram.fsm import Write

SLOT = "{42:1001}"
STATE, DATA = f"fsm:{SLOT}:1001:state", f"fsm:{SLOT}:1001:data"


def claim(client: AsyncRedis, update_id: int = 1, ttl_ms: int = 2000) -> Claim:
    return Claim(Scripts.register(client), SLOT, update_id, (STATE, DATA), ttl_ms)


def test_a_claim_reads_the_chats_state_and_data_in_the_same_step(
    async_redis: AsyncRedis, redis_client: redis.Redis, run: Callable[..., Any]
) -> None:
    redis_client.set(STATE, "Form:age")
    redis_client.set(DATA, '{"name": "Ada"}')
    first = claim(async_redis)

    run(first.acquire(max_wait=1))

    assert first.state == b"Form:age"
    assert first.data == b'{"name": "Ada"}'
    assert redis_client.get(f"lg:{SLOT}:lock") == first.token
    assert redis_client.get(f"lg:{SLOT}:update:1") == f"p:{first.token}"


def test_a_committed_update_is_a_duplicate_for_24_hours(
    async_redis: AsyncRedis, redis_client: redis.Redis, run: Callable[..., Any]
) -> None:
    first = claim(async_redis)
    run(first.acquire(max_wait=1))
    assert run(first.commit([Write(STATE, "Form:age", 60)]))

    with pytest.raises(Duplicate):
        run(claim(async_redis).acquire(max_wait=1))
    assert redis_client.get(f"lg:{SLOT}:update:1") == f"done:{first.token}"
    assert 23 * 3600 < redis_client.ttl(f"lg:{SLOT}:update:1") <= 24 * 3600
    assert redis_client.get(STATE) == "Form:age"
    assert redis_client.exists(f"lg:{SLOT}:lock") == 0


def test_an_update_being_processed_is_in_flight_for_its_duplicate(
    async_redis: AsyncRedis, run: Callable[..., Any]
) -> None:
    run(claim(async_redis).acquire(max_wait=1))

    with pytest.raises(InFlight):
        run(claim(async_redis).acquire(max_wait=1))


def test_another_update_of_the_chat_waits_and_gives_up_after_the_bound(
    async_redis: AsyncRedis, redis_client: redis.Redis, run: Callable[..., Any]
) -> None:
    run(claim(async_redis, update_id=1).acquire(max_wait=1))
    second = claim(async_redis, update_id=2)

    with pytest.raises(ChatBusy) as busy:
        run(second.acquire(max_wait=0.3))

    assert busy.value.waited >= 0.3
    assert redis_client.exists(f"lg:{SLOT}:update:2") == 0  # nothing claimed: a retry runs it


def test_a_waiting_update_goes_on_when_the_holder_commits(
    async_redis: AsyncRedis, run: Callable[..., Any]
) -> None:
    first = claim(async_redis, update_id=1)
    run(first.acquire(max_wait=1))
    second = claim(async_redis, update_id=2)

    async def release_later() -> None:
        await asyncio.sleep(0.2)
        await first.commit([Write(STATE, "Form:about", None)])

    async def both() -> None:
        await asyncio.gather(release_later(), second.acquire(max_wait=5))

    run(both())

    assert second.waited > 0.1
    assert second.state == b"Form:about"  # it reads what the first one committed


def test_a_dead_holder_blocks_the_chat_no_longer_than_the_lock_ttl(
    async_redis: AsyncRedis, run: Callable[..., Any]
) -> None:
    # Given a holder that took the lock and died (no renewal, no commit)
    run(claim(async_redis, update_id=1, ttl_ms=300).acquire(max_wait=1))
    started = time.monotonic()

    # When the next update of the chat arrives (allowed to wait far longer than the TTL)
    second = claim(async_redis, update_id=2)
    run(second.acquire(max_wait=30))

    # Then it waited for the dead holder's TTL to run out, and got the lock
    assert second.waited >= 0.2  # the dead holder's lock had ~300 ms left: it was respected
    assert time.monotonic() - started >= second.waited
    # and the dead holder's update is no longer "in flight": Telegram's retry runs it
    run(second.abandon())
    third = claim(async_redis, update_id=1)
    run(third.acquire(max_wait=30))


def test_renewal_keeps_a_live_holders_lock_past_its_ttl(
    async_redis: AsyncRedis, run: Callable[..., Any]
) -> None:
    first = claim(async_redis, update_id=1, ttl_ms=300)

    async def long_handler() -> bool:
        await first.acquire(max_wait=1)
        async with first.renewing():
            await asyncio.sleep(1.0)  # more than three TTLs
        return await first.commit([])

    assert run(long_handler())
    assert not first.lost


def test_a_commit_after_the_lock_was_lost_writes_nothing(
    async_redis: AsyncRedis, redis_client: redis.Redis, run: Callable[..., Any]
) -> None:
    first = claim(async_redis, ttl_ms=100)
    run(first.acquire(max_wait=1))
    time.sleep(0.25)  # the lock expired (a Redis restart or a stalled process)

    assert not run(first.commit([Write(STATE, "Form:age", None)]))
    assert redis_client.exists(STATE) == 0
    assert redis_client.exists(f"lg:{SLOT}:update:1") == 0


def test_abandoning_gives_the_update_back(
    async_redis: AsyncRedis, redis_client: redis.Redis, run: Callable[..., Any]
) -> None:
    first = claim(async_redis)
    run(first.acquire(max_wait=1))

    run(first.abandon())

    assert redis_client.keys("*") == [first.attempts_key]  # only the count of tries is left
    assert redis_client.get(first.attempts_key) == "1"
    run(claim(async_redis).acquire(max_wait=1))  # the retry is processed


def test_an_update_given_back_too_often_is_given_up_and_frees_its_chat(
    async_redis: AsyncRedis, redis_client: redis.Redis, run: Callable[..., Any]
) -> None:
    for _ in range(3):  # claimed and never committed (a handler that always times out)
        attempt = Claim(Scripts.register(async_redis), SLOT, 7, (STATE, DATA), 2000, 3)
        run(attempt.acquire(max_wait=1))
        run(attempt.abandon())

    fourth = Claim(Scripts.register(async_redis), SLOT, 7, (STATE, DATA), 2000, 3)
    with pytest.raises(Poisoned) as poisoned:
        run(fourth.acquire(max_wait=1))

    assert poisoned.value.attempts == 3
    assert redis_client.get(fourth.dedupe_key) == "done"  # Telegram's next retry: duplicate
    assert redis_client.exists(fourth.lock_key, fourth.attempts_key) == 0
    run(claim(async_redis, update_id=8).acquire(max_wait=0.5))  # the chat is free at once


def test_a_commit_forgets_the_attempts(
    async_redis: AsyncRedis, redis_client: redis.Redis, run: Callable[..., Any]
) -> None:
    first = claim(async_redis)
    run(first.acquire(max_wait=1))

    assert run(first.commit([]))

    assert not redis_client.exists(first.attempts_key)


def test_a_commit_deletes_what_was_cleared_and_sets_ttls(
    async_redis: AsyncRedis, redis_client: redis.Redis, run: Callable[..., Any]
) -> None:
    redis_client.set(DATA, '{"name": "Ada"}')
    first = claim(async_redis)
    run(first.acquire(max_wait=1))

    run(first.commit([Write(DATA, None, None), Write(STATE, "Form:name", 100)]))

    assert redis_client.exists(DATA) == 0
    assert 0 < redis_client.ttl(STATE) <= 100


def test_updates_without_a_chat_are_deduplicated_without_a_lock(
    async_redis: AsyncRedis, redis_client: redis.Redis, run: Callable[..., Any]
) -> None:
    scripts = Scripts.register(async_redis)
    first = Claim(scripts, "{42}", 7, None, 2000)
    parallel = Claim(scripts, "{42}", 8, None, 2000)

    run(first.acquire(max_wait=1))
    run(parallel.acquire(max_wait=1))  # no lock: updates without a chat run side by side
    assert run(first.commit([]))

    with pytest.raises(Duplicate):
        run(Claim(scripts, "{42}", 7, None, 2000).acquire(max_wait=1))
    assert redis_client.exists("lg:{42}:lock") == 0


def test_at_most_max_waiters_wait_for_a_chat_and_the_rest_are_turned_away_at_once(
    async_redis: AsyncRedis, redis_client: redis.Redis, run: Callable[..., Any]
) -> None:
    holder = claim(async_redis, update_id=1)
    run(holder.acquire(max_wait=1))

    async def flood() -> list[str]:
        async def one(update_id: int) -> str:
            attempt = Claim(Scripts.register(async_redis), SLOT, update_id, (STATE, DATA), 2000)
            try:
                await attempt.acquire(max_wait=0.5)
            except ChatCrowded:
                return "crowded"
            except ChatBusy:
                return "busy"
            return "claimed"

        return await asyncio.gather(*(one(n) for n in range(2, 7)))

    outcomes = run(flood())

    assert sorted(outcomes) == ["busy", "busy", "crowded", "crowded", "crowded"]
    assert redis_client.zcard(holder.waiters_key) == 0  # the waiters left


def test_a_waiter_that_gets_the_lock_stops_counting_as_a_waiter(
    async_redis: AsyncRedis, redis_client: redis.Redis, run: Callable[..., Any]
) -> None:
    # Given a chat that admits one waiter, held by an update, with one more waiting for it
    def one_waiter(update_id: int) -> Claim:
        return Claim(Scripts.register(async_redis), SLOT, update_id, (STATE, DATA), 2000, 10, 1)

    holder = one_waiter(1)
    run(holder.acquire(max_wait=1))
    waiter = one_waiter(2)

    async def wait_then_release() -> None:
        waiting = asyncio.ensure_future(waiter.acquire(max_wait=10))
        while not redis_client.zcard(holder.waiters_key):
            await asyncio.sleep(0.01)
        assert await holder.commit([])
        await waiting

    # When the holder commits and the waiter gets the lock
    run(wait_then_release())

    # Then the chat has no waiter left: the next update may wait its turn, not turned away
    assert redis_client.zcard(holder.waiters_key) == 0
    with pytest.raises(ChatBusy):
        run(one_waiter(3).acquire(max_wait=0.2))


def test_a_waiter_counts_for_as_long_as_it_may_wait_not_for_lock_ttl(
    async_redis: AsyncRedis, run: Callable[..., Any]
) -> None:
    # Given LOCK_TTL 1 s, a holder that keeps its lock, and two waiters that may wait 3 s
    def attempt(update_id: int) -> Claim:
        return Claim(Scripts.register(async_redis), SLOT, update_id, (STATE, DATA), 1000)

    holder = attempt(1)
    run(holder.acquire(max_wait=1))

    async def outcome(claim: Claim, max_wait: float) -> str:
        try:
            await claim.acquire(max_wait)
        except ChatCrowded:
            return "crowded"
        except ChatBusy:
            return "busy"
        return "claimed"

    async def scenario() -> tuple[list[str], list[str]]:
        async with holder.renewing():
            waiting = [asyncio.ensure_future(outcome(attempt(n), 3.0)) for n in (2, 3)]
            await asyncio.sleep(1.5)  # past LOCK_TTL, within the waiters' wait
            latecomers = await asyncio.gather(*(outcome(attempt(n), 0.2) for n in (4, 5)))
            return list(await asyncio.gather(*waiting)), list(latecomers)

    # When two more updates come while the first two still wait
    waited, latecomers = run(scenario())

    # Then they are turned away: the two waiters still count
    assert latecomers == ["crowded", "crowded"]
    assert waited == ["busy", "busy"]
