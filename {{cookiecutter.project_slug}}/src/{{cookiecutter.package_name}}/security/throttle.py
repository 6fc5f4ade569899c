"""Throttling of password guesses: every attempt takes a slot before the expensive work.

A login reserves one slot in its account's bucket and one in its client address's bucket,
atomically, *before* the password is hashed, and the slot counts whatever the outcome. Only
a login that succeeded gives its slots back, once its answer is decided. Checking first and
counting failures afterwards would let a burst of parallel guesses through: every one of them
is checked before the first failure is counted (OWASP Authentication Cheat Sheet; the
"reserve, then work" rule of the design notes).

The slots live where every worker and every host sees them, never in one process's memory:
the database (database_throttle.py) or Redis (redis_throttle.py). Each bucket is a moving
window timed by that shared store's own clock.

The account limit is keyed by the normalised username, so rotating addresses does not reset
it; unknown usernames are throttled exactly like real ones, so a 429 does not reveal whether
an account exists. The higher per-address limit stops one host spraying guesses over many
accounts; its key is the address the trusted-proxy rules chose, never a raw X-Forwarded-For.
A request without an address (see client_address.py) is throttled by account only: it never
shares an address bucket with strangers, which would let anyone lock everybody out.
"""

import hashlib
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

ThrottleScope = Literal["account", "address", "registration"]


@dataclass(frozen=True, slots=True)
class Limit:
    """At most `max_attempts` attempts per `window_seconds` for one key in one scope."""

    scope: ThrottleScope
    key: str
    max_attempts: int
    window_seconds: int

    @property
    def bucket(self) -> str:
        # Hashed so that arbitrary user input never becomes a storage key verbatim.
        return hashlib.sha256(f"{self.scope}\0{self.key}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Reservation:
    """The slots one attempt holds: the same attempt id in each bucket."""

    attempt_id: str
    buckets: dict[ThrottleScope, str]


class ThrottledError(Exception):
    """A bucket is full: retry after `retry_after` seconds. `scope` says which (for audit)."""

    def __init__(self, retry_after: int, scope: ThrottleScope) -> None:
        super().__init__(retry_after, scope)
        self.retry_after = retry_after
        self.scope = scope


class AttemptLog(Protocol):
    """Where attempts are recorded: shared by every worker and host."""

    async def reserve(self, limits: Sequence[Limit], attempt_id: str) -> ThrottledError | None:
        """Record `attempt_id` in every limit's bucket, atomically, or in none of them.

        Returns None when recorded, else the refusal (the longest wait of the full buckets).
        Of any number of concurrent calls, no more than a bucket's `max_attempts` succeed.
        """

    async def release(self, attempt_id: str, buckets: Collection[str]) -> None:
        """Remove the attempt from these buckets (a success gives its slot back)."""

    async def close(self) -> None:
        """Release connections."""


class LoginThrottle:
    """The login limits of the settings, on top of an AttemptLog."""

    def __init__(
        self,
        log: AttemptLog,
        *,
        max_failures: int,
        max_failures_per_address: int,
        window_seconds: int,
    ) -> None:
        self._log = log
        self._max_failures = max_failures
        self._max_failures_per_address = max_failures_per_address
        self._window_seconds = window_seconds

    def account_limit(self, username_key: str) -> Limit:
        return Limit("account", username_key, self._max_failures, self._window_seconds)

    def address_limits(self, address: str | None) -> list[Limit]:
        """The per-address limit, or none for a request whose address is unknown."""
        if address is None:
            return []
        return [Limit("address", address, self._max_failures_per_address, self._window_seconds)]

    def login_limits(self, username_key: str, address: str | None) -> list[Limit]:
        return [self.account_limit(username_key), *self.address_limits(address)]

    async def reserve(self, limits: Sequence[Limit]) -> Reservation:
        """Take a slot in every limit's bucket, or raise ThrottledError and take none."""
        attempt_id = uuid.uuid4().hex
        refused = await self._log.reserve(limits, attempt_id)
        if refused is not None:
            raise refused
        return Reservation(attempt_id, {limit.scope: limit.bucket for limit in limits})

    async def give_back(
        self, reservation: Reservation, scopes: Collection[ThrottleScope] = ("account", "address")
    ) -> None:
        """Return the reservation's slots in `scopes`: the attempt turned out legitimate."""
        buckets = [bucket for scope, bucket in reservation.buckets.items() if scope in scopes]
        if buckets:
            await self._log.release(reservation.attempt_id, buckets)

    async def close(self) -> None:
        await self._log.close()
