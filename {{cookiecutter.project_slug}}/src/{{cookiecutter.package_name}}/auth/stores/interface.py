"""Where sessions live: the interface the database and Redis stores implement.

A login starts a *session* (a refresh-token family, RFC 6819 / OAuth 2.0 Security BCP 4.14).
Revoking the session revokes its refresh tokens (the store refuses to rotate them) and its
access tokens (the store adds it to every worker's RevokedSessions).
"""

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ...security.revocation import RevokedSessions
from ...security.throttle import AttemptLog
from ...security.tokens import IssuedTokens
from ...users.models import User


class RotateOutcome(enum.Enum):
    ROTATED = "rotated"
    # A refresh token that was already used came back: someone holds a copy. The whole
    # session has been revoked (refresh-token reuse detection).
    REUSED = "reused"
    # Unknown token, or its session is revoked or over.
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class Rotation:
    """What `TokenStore.rotate` did, and with ROTATED the new tokens (None otherwise)."""

    outcome: RotateOutcome
    tokens: IssuedTokens | None = None


# Makes a refresh's new tokens for the session's user as the rotation found them.
TokenMaker = Callable[[User], IssuedTokens]


@dataclass(frozen=True, slots=True)
class NewSession:
    """A session about to start, and the credentials version its login was checked against."""

    user_id: str
    session_id: str
    refresh_token_id: str
    # Absolute end of the session (login + REFRESH_TOKEN_DAYS), never extended by refreshing.
    expires_at: int
    credentials_version: int
    # Where the login came from and with what (auth/session_details.py bounds both), shown
    # to the user in their list of sessions.
    client: str | None
    user_agent: str | None


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """A live session as its user sees it in GET /auth/sessions. Times are seconds since the
    epoch by the store's clock; `last_used_at`, `client` and `user_agent` are the login's or
    the last refresh's."""

    session_id: str
    created_at: float
    last_used_at: float
    client: str | None
    user_agent: str | None


class TokenStore(Protocol):
    """Where sessions and their refresh tokens live (the database or Redis)."""

    async def start_session(self, session: NewSession) -> bool:
        """Record a new session and its first refresh token, in one atomic step with the check
        that the user's credentials version is still `session.credentials_version`.

        False, and nothing recorded, when the password or account state changed meanwhile.
        """

    async def rotate(
        self,
        session_id: str,
        old_token_id: str,
        new_token_id: str,
        *,
        user_id: str,
        client: str | None,
        user_agent: str | None,
        make_tokens: TokenMaker,
    ) -> Rotation:
        """Atomically retire `old_token_id` and register `new_token_id` in its place, and
        record the refresh (time, `client`, `user_agent`) in the same step. The new tokens
        are made by `make_tokens`, from the session's user (`user_id`, the token's subject)
        as the rotation found them, so they carry the user's current values; it is called
        before the rotation is final, so if it fails, nothing is spent either.

        Of several concurrent calls with the same old token, at most one returns ROTATED; none
        does once the user's credentials changed after the session started, or while the user
        is gone or inactive, which also revokes the session. Nothing is spent when the step
        fails before it is final (a database error, or Redis unreachable before the script
        ran): the client's retry is not a reuse.
        """

    async def list_sessions(self, user_id: str) -> list[SessionInfo]:
        """The user's live sessions (not revoked, not past their absolute end, issued under
        the current credentials), oldest first."""

    async def revoke_session(self, session_id: str, user_id: str) -> bool:
        """Revoke one session of `user_id` (other users' sessions are left alone).

        True when it was live until now: not revoked before and not past its absolute end.
        A session past its end is still revoked (its last access token may yet be valid), but
        answers False, like an unknown one or another user's.
        """

    async def revoke_user(
        self,
        user_id: str,
        *,
        credentials_version: int | None = None,
        keep_session: str | None = None,
    ) -> None:
        """Revoke every session of a user (logout everywhere, password change).

        `credentials_version`, after a credentials change, is the user's new version: from
        then on no session of an older version may start or rotate, wherever it was checked.

        `keep_session` (with `credentials_version`) is the session that made the change: in
        the same atomic step it is re-stamped with the new version instead of revoked, so its
        refresh token keeps working. Only if it is live and was issued under the version just
        before (`credentials_version - 1`): after any other change in between it is revoked
        like the rest.
        """

    async def open(self) -> None:
        """Load current revocations, then keep copying those made by any worker."""

    async def close(self) -> None:
        """Stop background work and release connections."""


@dataclass(frozen=True, slots=True)
class StoreBackend:
    """Where the project keeps the state its workers share: sessions and revocations (the
    store), the revoked list each worker keeps in sync, and the throttle's attempt slots.
    database_store.py and redis_store.py each build one (`build_backend`)."""

    store: TokenStore
    revoked: RevokedSessions
    attempts: AttemptLog
    # Errors of the backend's own client that mean "unavailable": answered 503, Retry-After 1.
    unavailable: tuple[type[Exception], ...] = ()
