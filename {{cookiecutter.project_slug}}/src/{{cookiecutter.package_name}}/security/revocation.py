"""Server-side session state: refresh-token families and the revoked-session list.

A login starts a *session* (a refresh-token family, RFC 6819 / OAuth 2.0 Security BCP 4.14).
Every token of the session carries its id in `sid`. Revoking the session therefore revokes
its refresh tokens (the store refuses to rotate them) and its access tokens (every worker
keeps the revoked session ids in memory and refuses them), without a database round-trip
per request. Stores keep that in-memory list in sync across workers.
"""

import enum
import time
from dataclasses import dataclass
from typing import Protocol


class RotateOutcome(enum.Enum):
    ROTATED = "rotated"
    # A refresh token that was already used came back: someone holds a copy. The whole
    # session has been revoked (refresh-token reuse detection).
    REUSED = "reused"
    # Unknown token, or its session is revoked or over.
    INVALID = "invalid"


class RevokedSessions:
    """Revoked session ids, each kept until no access token of that session can be valid."""

    def __init__(self) -> None:
        self._until: dict[str, float] = {}

    def add(self, session_id: str, until: float) -> None:
        self._until[session_id] = max(until, self._until.get(session_id, 0.0))

    def is_revoked(self, session_id: str) -> bool:
        return session_id in self._until

    def purge(self, now: float | None = None) -> None:
        """Forget entries whose access tokens have all expired anyway."""
        now = time.time() if now is None else now
        self._until = {sid: until for sid, until in self._until.items() if until > now}

    def __len__(self) -> int:
        return len(self._until)


@dataclass(frozen=True, slots=True)
class NewSession:
    """A session about to start, and the credentials version its login was checked against."""

    user_id: str
    session_id: str
    refresh_token_id: str
    # Absolute end of the session (login + REFRESH_TOKEN_DAYS), never extended by refreshing.
    expires_at: int
    credentials_version: int


class TokenStore(Protocol):
    """Where sessions and their refresh tokens live (the database or Redis)."""

    async def start_session(self, session: NewSession) -> bool:
        """Record a new session and its first refresh token, in one atomic step with the check
        that the user's credentials version is still `session.credentials_version`.

        False, and nothing recorded, when the password or account state changed meanwhile.
        """

    async def rotate(self, session_id: str, old_token_id: str, new_token_id: str) -> RotateOutcome:
        """Atomically retire `old_token_id` and register `new_token_id` in its place.

        Of several concurrent calls with the same old token, at most one returns ROTATED; none
        does once the user's credentials changed after the session started.
        """

    async def revoke_session(self, session_id: str, user_id: str) -> None:
        """Revoke one session of `user_id` (other users' sessions are left alone)."""

    async def revoke_user(self, user_id: str, *, credentials_version: int | None = None) -> None:
        """Revoke every session of a user (logout everywhere, password change).

        `credentials_version`, after a credentials change, is the user's new version: from
        then on no session of an older version may start or rotate, wherever it was checked.
        """

    async def open(self) -> None:
        """Load current revocations, then keep copying those made by any worker."""

    async def close(self) -> None:
        """Stop background work and release connections."""
