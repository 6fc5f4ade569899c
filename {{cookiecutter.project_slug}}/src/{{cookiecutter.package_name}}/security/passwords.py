"""Password hashing with argon2id (pwdlib), kept off the event loop.

Argon2 is deliberately slow and memory-hungry (OWASP Password Storage Cheat Sheet). Run on
the event loop, one login would freeze every other request, so the async functions here
hand the work to a worker thread.
"""

import base64
import os
import secrets

import anyio.to_thread
from anyio import CapacityLimiter
from argon2.low_level import ARGON2_VERSION
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

# Longer passwords are refused before hashing: no one types more, and hashing megabytes of
# attacker input per request is a denial of service.
MAX_PASSWORD_LENGTH = 1024
# argon2-cffi's defaults, stated: unknown_user_hash() writes hashes of exactly these lengths.
HASH_BYTES = 32
SALT_BYTES = 16


def _b64(data: bytes) -> str:
    """Base64 without padding, as the argon2 hash format spells salts and digests."""
    return base64.b64encode(data).rstrip(b"=").decode()


def unknown_user_hash(*, time_cost: int, memory_kib: int, parallelism: int) -> str:
    """An argon2id hash with these parameters, a random salt and a random digest.

    Verifying a password against it costs what verifying against a real hash with these
    parameters costs (the parameters set the work, not how the digest came about), and never
    succeeds: no password is known to hash to a random 256-bit digest. Hashing a random
    password instead would cost a full argon2id hash at every start of every process.
    """
    return (
        f"$argon2id$v={ARGON2_VERSION}$m={memory_kib},t={time_cost},p={parallelism}"
        f"${_b64(secrets.token_bytes(SALT_BYTES))}${_b64(secrets.token_bytes(HASH_BYTES))}"
    )


class PasswordHasher:
    """Hashes and verifies passwords with one set of argon2id parameters."""

    def __init__(self, *, time_cost: int, memory_kib: int, parallelism: int) -> None:
        self._hash = PasswordHash(
            (
                Argon2Hasher(
                    time_cost=time_cost,
                    memory_cost=memory_kib,
                    parallelism=parallelism,
                    hash_len=HASH_BYTES,
                    salt_len=SALT_BYTES,
                ),
            )
        )
        # Verified against when the user does not exist, so that an unknown username costs
        # as much time as a wrong password and response times do not reveal which it was.
        self._dummy_hash = unknown_user_hash(
            time_cost=time_cost, memory_kib=memory_kib, parallelism=parallelism
        )
        # Hashes run one per core but one, at most: a burst of logins queues here instead of
        # taking every core (and the shared thread pool) from the event loop serving others.
        self._limiter = CapacityLimiter(max(1, (os.cpu_count() or 1) - 1))

    def hash(self, password: str) -> str:
        """An argon2id hash of `password` (blocking: call from a thread or the CLI)."""
        return self._hash.hash(password)

    async def hash_async(self, password: str) -> str:
        """`hash`, on a worker thread."""
        return await anyio.to_thread.run_sync(self._hash.hash, password, limiter=self._limiter)

    async def verify(self, password: str, password_hash: str | None) -> tuple[bool, str | None]:
        """Check a password on a worker thread; `password_hash=None` means "no such user".

        Returns (valid, new_hash); new_hash is set when the stored hash used older
        parameters and should be replaced.
        """
        if password_hash is None:
            await anyio.to_thread.run_sync(
                self._hash.verify, password, self._dummy_hash, limiter=self._limiter
            )
            return False, None
        return await anyio.to_thread.run_sync(
            self._verify_and_update, password, password_hash, limiter=self._limiter
        )

    def _verify_and_update(self, password: str, password_hash: str) -> tuple[bool, str | None]:
        """pwdlib's verify_and_update, never cheaper than a verify at the current parameters.

        A hash stored with older, cheaper parameters verifies faster than the dummy an unknown
        username is checked against, so response times would tell which usernames exist
        until every user had logged in again (OWASP Authentication Cheat Sheet, "Authentication
        and Error Messages": the same response, and the same time, for both). A right password
        pays the current cost by being rehashed; a wrong one pays it here, with the dummy.
        """
        valid, new_hash = self._hash.verify_and_update(password, password_hash)
        if not valid and self._hash.current_hasher.check_needs_rehash(password_hash):
            self._hash.verify(password, self._dummy_hash)
        return valid, new_hash
