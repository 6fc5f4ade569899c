"""Login throttling: moving windows of failed attempts per account and per client address.

The account limit is keyed by the normalised username, so rotating IPs does not reset it;
unknown usernames are throttled exactly like real ones, so a 429 does not reveal whether an
account exists. The higher per-address limit stops one host spraying guesses over many
accounts (OWASP Authentication Cheat Sheet); its key is the address the trusted-proxy rules
chose, never a raw X-Forwarded-For a client could rotate.
"""

import hashlib
import math
import time
from typing import Literal

from limits import RateLimitItemPerSecond
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter

ThrottleScope = Literal["account", "address"]


class LoginThrottle:
    """Counts failed logins and says how long a throttled caller must wait."""

    def __init__(
        self,
        storage: Storage,
        *,
        max_failures: int,
        max_failures_per_address: int,
        window_seconds: int,
    ) -> None:
        self._limiter = MovingWindowRateLimiter(storage)
        self._limits = {
            "account": RateLimitItemPerSecond(max_failures, window_seconds),
            "address": RateLimitItemPerSecond(max_failures_per_address, window_seconds),
        }

    @staticmethod
    def _key(value: str) -> str:
        # Hashed so that arbitrary user input never becomes a storage key verbatim.
        return hashlib.sha256(value.encode()).hexdigest()

    def _keys(self, username_key: str, address: str) -> dict[ThrottleScope, str]:
        return {"account": self._key(username_key), "address": self._key(address)}

    async def retry_after(
        self, username_key: str, address: str
    ) -> tuple[int, ThrottleScope] | None:
        """(seconds to wait, which limit), or None when an attempt is allowed."""
        waits: list[tuple[int, ThrottleScope]] = []
        for scope, key in self._keys(username_key, address).items():
            limit = self._limits[scope]
            if not await self._limiter.test(limit, "login", scope, key):
                stats = await self._limiter.get_window_stats(limit, "login", scope, key)
                waits.append((max(1, math.ceil(stats.reset_time - time.time())), scope))
        return max(waits) if waits else None

    async def record_failure(self, username_key: str, address: str) -> None:
        for scope, key in self._keys(username_key, address).items():
            await self._limiter.hit(self._limits[scope], "login", scope, key)
