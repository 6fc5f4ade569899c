"""Throttling attempts recorded in Redis, shared by every worker and host.

Each bucket is a sorted set of attempt ids scored by when they leave the window. One Lua
script drops what has left, counts, and adds the attempt to every bucket only if all have
room: Redis runs it atomically, so concurrent reservations cannot overfill a bucket. Times
come from Redis's own clock (TIME), the one every host shares.
"""

from collections.abc import Collection, Sequence

from redis.asyncio import Redis

from .throttle import Limit, ThrottledError

# KEYS: the buckets. ARGV: the attempt id, then max attempts and window (ms) per bucket.
# Returns {0, 0} when recorded, else {index of the bucket to blame, milliseconds to wait}.
_RESERVE_LUA = """
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local blame, wait = 0, 0
for i, key in ipairs(KEYS) do
  local max_attempts = tonumber(ARGV[2 * i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  local count = redis.call('ZCARD', key)
  if count >= max_attempts then
    local first = count - max_attempts
    local frees = redis.call('ZRANGE', key, first, first, 'WITHSCORES')
    local this_wait = tonumber(frees[2]) - now
    if this_wait > wait or blame == 0 then
      blame, wait = i, this_wait
    end
  end
end
if blame > 0 then
  return {blame, wait}
end
for i, key in ipairs(KEYS) do
  local window = tonumber(ARGV[2 * i + 1])
  redis.call('ZADD', key, now + window, ARGV[1])
  redis.call('PEXPIRE', key, window)
end
return {0, 0}
"""


class RedisAttemptLog:
    """AttemptLog on Redis: a moving window per bucket, one atomic script per reservation."""

    def __init__(self, redis: Redis, *, key_prefix: str) -> None:
        self._redis = redis
        self._prefix = f"{key_prefix}throttle:"
        self._reserve = redis.register_script(_RESERVE_LUA)

    async def reserve(self, limits: Sequence[Limit], attempt_id: str) -> ThrottledError | None:
        args: list[str | int] = [attempt_id]
        for limit in limits:
            args += [limit.max_attempts, limit.window_seconds * 1000]
        keys = [self._prefix + limit.bucket for limit in limits]
        blame, wait_ms = await self._reserve(keys=keys, args=args)
        if blame == 0:
            return None
        return ThrottledError(max(1, -(-int(wait_ms) // 1000)), limits[int(blame) - 1].scope)

    async def release(self, attempt_id: str, buckets: Collection[str]) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for bucket in buckets:
                pipe.zrem(self._prefix + bucket, attempt_id)
            await pipe.execute()

    async def close(self) -> None:
        await self._redis.aclose()
