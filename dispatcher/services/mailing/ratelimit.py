"""One rate cap for every process sending through one SMTP server: a token bucket in Redis.

``PREGONERO_SMTP__RATE`` is what the SMTP server (or the provider's contract) allows. One
process enforces it with its own limiter; when several ``pregonero worker`` processes share
a campaign, each would allow the full rate and the campaign as a whole would go N times
over. So they draw from one bucket in Redis (the queue's own server): ``rate`` tokens a
second, holding at most one second's worth — the same shape as the single process's
``aiolimiter.AsyncLimiter(rate, 1)``. The bucket is refilled and drawn in one Lua script
(atomic; the clock is Redis's ``TIME``, so the processes' clocks need not agree). A process
takes a few tokens per round trip (about a twentieth of a second's worth) and spends them
locally, so Redis sees ~20 calls a second per process, not one per message; tokens a
process took but did not use are simply lost, so the cap can only be undershot.

Why not a per-process share of the rate (rate ÷ live senders)? It needs the count of live
senders, which lags when one joins or dies — the cap is exceeded in between. The bucket
is exact, and Redis is already there whenever there are workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported when used: ~10 MB a single sender never needs
    from redis.asyncio import Redis

KEY_PREFIX = "pregonero:smtp-rate:"
DRAWS_PER_SECOND = 20
KEY_TTL = 3600

_TAKE = """
local rate, cap, want = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(state[1]), tonumber(state[2])
if tokens == nil or at == nil then tokens, at = cap, now end
tokens = math.min(cap, tokens + math.max(0, now - at) * rate)
local granted = math.min(want, math.floor(tokens))
tokens = tokens - granted
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
if granted > 0 then return {granted, 0} end
return {0, math.ceil((1 - tokens) / rate * 1000000)}
"""
"""KEYS[1] the bucket; ARGV rate/s, capacity, tokens wanted, key TTL. Returns {granted,
microseconds to wait before asking again}."""


class RedisLimiter:
    """``await acquire()`` once per message, like ``AsyncLimiter``."""

    def __init__(self, redis: Redis, server: str, rate: float) -> None:
        self._redis = redis
        self._key = KEY_PREFIX + server
        self._rate = rate
        self._capacity = max(1.0, rate)
        self._chunk = max(1, math.floor(rate / DRAWS_PER_SECOND))
        self._tokens = 0
        self._lock = asyncio.Lock()
        self._take = redis.register_script(_TAKE)

    async def acquire(self) -> None:
        if self._tokens > 0:
            self._tokens -= 1
            return
        async with self._lock:  # one draw at a time; the others wait for its tokens
            while self._tokens == 0:
                granted, wait_us = await self._take(
                    keys=[self._key], args=[self._rate, self._capacity, self._chunk, KEY_TTL]
                )
                self._tokens = int(granted)
                if not self._tokens:
                    await asyncio.sleep(int(wait_us) / 1_000_000)
            self._tokens -= 1


@contextlib.asynccontextmanager
async def shared_limiter(url: str, server: str, rate: float) -> AsyncIterator[RedisLimiter]:
    """A :class:`RedisLimiter` on the Redis at ``url`` for the SMTP ``server``
    (``host:port``), with its connection closed afterwards."""
    from redis.asyncio import Redis

    redis = Redis.from_url(url)
    try:
        yield RedisLimiter(redis, server, rate)
    finally:
        await redis.aclose()
