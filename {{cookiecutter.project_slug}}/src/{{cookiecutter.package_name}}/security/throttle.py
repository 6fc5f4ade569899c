"""Login throttling: a moving window of failed attempts per account (the `limits` library).

The key is the normalised username, never the client address alone, so rotating
`X-Forwarded-For` or IPs does not reset it. Unknown usernames are throttled exactly like
real ones, so a 429 does not reveal whether an account exists.
"""

import hashlib
import math
import time

from limits import RateLimitItemPerSecond
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter


class LoginThrottle:
    """Counts failed logins and says how long a throttled account must wait."""

    def __init__(self, storage: Storage, *, max_failures: int, window_seconds: int) -> None:
        self._limiter = MovingWindowRateLimiter(storage)
        self._limit = RateLimitItemPerSecond(max_failures, window_seconds)

    @staticmethod
    def _key(username_key: str) -> str:
        # Hashed so that arbitrary user input never becomes a storage key verbatim.
        return hashlib.sha256(username_key.encode()).hexdigest()

    async def retry_after(self, username_key: str) -> int | None:
        """Seconds to wait before the next attempt, or None when an attempt is allowed."""
        key = self._key(username_key)
        if await self._limiter.test(self._limit, "login", key):
            return None
        stats = await self._limiter.get_window_stats(self._limit, "login", key)
        return max(1, math.ceil(stats.reset_time - time.time()))

    async def record_failure(self, username_key: str) -> None:
        await self._limiter.hit(self._limit, "login", self._key(username_key))
