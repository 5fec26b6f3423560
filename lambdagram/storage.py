"""Redis: the client (a process-lifetime pool) and the FSM storage over it."""

from __future__ import annotations

from typing import Literal, cast

from aiogram.fsm.storage.base import DEFAULT_DESTINY, KeyBuilder, StorageKey
from aiogram.fsm.storage.redis import RedisStorage
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from lambdagram.settings import Settings


class ChatSlotKeyBuilder(KeyBuilder):
    """FSM keys grouped per chat with a Redis Cluster hash tag.

    ``fsm:{<bot_id>:<chat_id>}:[<business>:][<thread>:]<user_id>[:<destiny>]:<part>``.
    Every key of one chat hashes to the same cluster slot, so the chat's state, data and
    lock can be read and written together in one transaction, in cluster mode too.
    The layout is part of the stored data: changing it orphans users' dialogs.
    """

    def __init__(self, prefix: str = "fsm") -> None:
        self.prefix = prefix

    def build(
        self,
        key: StorageKey,
        part: Literal["data", "state", "lock"] | None = None,
    ) -> str:
        parts = [self.prefix, "{%d:%d}" % (key.bot_id, key.chat_id)]  # noqa: UP031
        if key.business_connection_id:
            parts.append(f"b{key.business_connection_id}")
        if key.thread_id:
            parts.append(f"t{key.thread_id}")
        parts.append(str(key.user_id))
        if key.destiny != DEFAULT_DESTINY:
            parts.append(f"d{key.destiny}")
        if part:
            parts.append(part)
        return ":".join(parts)


def create_redis(settings: Settings) -> Redis:
    """A Redis client whose pool lives as long as the process.

    ``REDIS_CLUSTER=1`` makes it a cluster client (ElastiCache Serverless is cluster-mode
    only); ``rediss://`` turns on TLS. Timeouts are bounded so an outage fails fast (and
    the webhook answers 503 for Telegram to retry) instead of running out the Lambda clock.
    Connections idle across a frozen Lambda are health-checked before reuse.
    """
    timeout = settings.redis_timeout
    retry = Retry(ExponentialBackoff(cap=0.2, base=0.02), retries=1)
    if settings.redis_cluster:
        cluster = RedisCluster.from_url(
            settings.redis_url,
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
            health_check_interval=30,
            retry=retry,
        )
        return cast(Redis, cluster)  # the commands we use are the same on both
    return Redis.from_url(
        settings.redis_url,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        health_check_interval=30,
        retry=retry,
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
    )


def create_storage(redis: Redis, settings: Settings) -> RedisStorage:
    """aiogram's RedisStorage over the shared client, with TTLs from the settings."""
    return RedisStorage(
        redis,
        key_builder=ChatSlotKeyBuilder(),
        state_ttl=settings.fsm_state_ttl,
        data_ttl=settings.fsm_data_ttl,
    )


async def eviction_policy(redis: Redis) -> str | None:
    """Redis's ``maxmemory_policy`` from ``INFO memory`` (managed services allow it where
    ``CONFIG`` is blocked), or None if it cannot be read. On a cluster: any node's."""
    info = await redis.info("memory")
    if "maxmemory_policy" not in info:  # a cluster client answers per node
        nodes = [v for v in info.values() if isinstance(v, dict)]
        info = nodes[0] if nodes else {}
    policy = info.get("maxmemory_policy")
    return None if policy is None else str(policy)
