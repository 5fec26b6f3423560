"""The bot's send rate, shared by every worker: a GCRA slot schedule kept in one Redis key.

Telegram allows a bot about 30 messages a second overall and answers 429 with
``retry_after`` beyond that. Broadcasts run on however many workers SQS starts, so the pace
cannot live in one process (``aiolimiter``'s does): each send first reserves the next free
slot with one Lua call (the generic cell rate algorithm: the key holds the time the next
slot opens, by Redis's own clock, so the workers' clocks do not matter) and sleeps until
it. A 429 pushes the next slot back by its ``retry_after`` for every worker at once. One
round trip per message, one key per bot, no dependency in the function's zip (``limits``'s
Redis storage costs a pipeline per hit and answers only yes or no, not when).
"""

from __future__ import annotations

from redis.asyncio import Redis

from lambdagram.delivery import PREFIX

_RESERVE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local interval = tonumber(ARGV[1])
local pause = tonumber(ARGV[2])
local next_slot = tonumber(redis.call('GET', KEYS[1]) or '0')
if next_slot < now then next_slot = now end
if pause > 0 then
  if now + pause > next_slot then next_slot = now + pause end
  redis.call('SET', KEYS[1], string.format('%d', next_slot), 'PX',
    math.ceil((next_slot - now) / 1000) + 1000)
  return 0
end
redis.call('SET', KEYS[1], string.format('%d', next_slot + interval), 'PX',
  math.ceil((next_slot - now + interval) / 1000) + 1000)
return next_slot - now
"""
"""Times in microseconds of Redis's clock (exact in Lua's doubles for another 200 years)."""


class SendRate:
    """``per_second`` sends for the bot ``bot_id``, whichever process makes them."""

    def __init__(self, redis: Redis, bot_id: int, per_second: float) -> None:
        self.key = f"{PREFIX}:{{{bot_id}}}:send-rate"
        self.interval_us = max(1, round(1_000_000 / per_second))
        self._script = redis.register_script(_RESERVE)

    async def reserve(self) -> float:
        """Reserve the next slot; the seconds to wait before sending in it."""
        wait_us = await self._script(keys=[self.key], args=[self.interval_us, 0])
        return int(wait_us) / 1_000_000

    async def pause(self, seconds: float) -> None:
        """Open no slot for anyone before ``seconds`` from now (Telegram's ``retry_after``)."""
        pause_us = max(1, round(seconds * 1_000_000))
        await self._script(keys=[self.key], args=[self.interval_us, pause_us])
