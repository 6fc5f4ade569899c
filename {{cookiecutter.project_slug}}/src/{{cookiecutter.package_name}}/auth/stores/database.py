"""The token store kept in the application database (`auth_sessions` and `revocations`).

Revocations reach other workers by a cheap indexed poll, at most REVOCATION_POLL_SECONDS late,
so verifying an access token never waits for the database. The poll follows the
`revocations` log by its sequence number, never by a timestamp: numbers are handed out under
a lock held until commit (`revocation_counter`), so they are in commit order, and a worker
that has seen number n has seen everything before it. A revocation whose transaction waited
on a lock, or that was made on a host whose clock is off, is seen like any other.

Times that several hosts compare (session expiry, how long a revocation matters) come from
the database's clock.
"""

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Row, Update, bindparam, delete, insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ...config import Settings
from ...db import database_now, upsert
from ...security.database_throttle import DatabaseAttemptLog
from ...security.revocation import RevokedSessions
from ...users.models import User
from ...users.repository import user_columns, user_from_row
from .database_tables import AuthSession, Revocation, RevocationCounter
from .interface import (
    NewSession,
    RotateOutcome,
    Rotation,
    SessionInfo,
    StoreBackend,
    TokenMaker,
)

logger = logging.getLogger(__name__)

# Access tokens of a revoked session stay refused this long past their possible expiry,
# covering clock skew between the hosts that issue and verify them (and the leeway).
_REVOCATION_MARGIN_SECONDS = 60
_PURGE_EVERY_SECONDS = 600.0
_COUNTER_ID = 1


def _live() -> tuple[ColumnElement[bool], ...]:
    """A session that may still refresh: not revoked, not over, under current credentials."""
    return (
        AuthSession.revoked_at.is_(None),
        AuthSession.expires_at > database_now(),
        _issued_under_current_credentials(),
    )


def _issued_under_current_credentials() -> ColumnElement[bool]:
    """True while the session's user is active and still at the session's credentials version."""
    return (
        select(User.id)
        .where(
            User.id == AuthSession.user_id,
            User.is_active.is_(True),
            User.credentials_version == AuthSession.credentials_version,
        )
        .exists()
    )


def _revoking(*where: ColumnElement[bool]) -> Update:
    """Mark the live sessions matching `where` revoked, returning what the log needs."""
    return (
        update(AuthSession)
        .where(*where, AuthSession.revoked_at.is_(None))
        .values(revoked_at=database_now())
        .returning(AuthSession.id, AuthSession.revoked_at, AuthSession.expires_at)
    )


class DatabaseTokenStore:
    """TokenStore on SQLAlchemy Core; atomic rotation through a conditional UPDATE.

    Each call is one transaction on one pooled connection, with statements built once here:
    a refresh or a logout is a few statements, and the ORM's unit of work and statement
    building around them cost more than the statements themselves (bench/write_baseline.py
    measures the same writes alone).
    """

    def __init__(
        self,
        engine: AsyncEngine,
        revoked: RevokedSessions,
        *,
        access_ttl: int,
        poll_seconds: float,
    ) -> None:
        self._engine = engine
        self._revoked = revoked
        self._access_ttl = access_ttl
        self._poll_seconds = poll_seconds
        # The highest revocation number this worker has applied.
        self._seen = 0
        self._task: asyncio.Task[None] | None = None
        # Lock the user's row (and on SQLite the database) while it is checked and the
        # session recorded: a concurrent password change either commits first, and the check
        # fails, or waits, and then revokes this session with the others.
        self._claim_user = (
            update(User)
            .where(
                User.id == bindparam("user"),
                User.is_active.is_(True),
                User.credentials_version == bindparam("version"),
            )
            .values(credentials_version=User.credentials_version)
        )
        self._insert_session = insert(AuthSession).values(
            created_at=database_now(), last_used_at=database_now()
        )
        live = (AuthSession.id == bindparam("session"), *_live())
        _, user_columns_ = user_columns()
        # Compare-and-swap: of concurrent refreshes with one token, only the first matches.
        # The same statement records the refresh for the list of sessions and returns the
        # user's row, as its WHERE found them active and at the session's credentials
        # version: one statement, one transaction, no second connection for the user.
        # (Scalar subqueries: SQLite's RETURNING cannot name an UPDATE ... FROM table.)
        self._rotate = (
            update(AuthSession)
            .where(*live, AuthSession.current_token_id == bindparam("old"))
            .values(
                current_token_id=bindparam("new"),
                last_used_at=database_now(),
                client=bindparam("new_client"),
                user_agent=bindparam("new_agent"),
            )
            .returning(
                *(
                    select(column).where(User.id == AuthSession.user_id).scalar_subquery()
                    for column in user_columns_
                )
            )
        )
        # Why a rotation was refused: is the session open (not revoked; over?), is its user
        # still there and active, and at the session's credentials version?
        self._refusal = select(
            AuthSession.expires_at > database_now(),
            select(User.id)
            .where(User.id == AuthSession.user_id, User.is_active.is_(True))
            .exists(),
            _issued_under_current_credentials(),
        ).where(AuthSession.id == bindparam("session"), AuthSession.revoked_at.is_(None))
        self._revoke_one = _revoking(
            AuthSession.id == bindparam("session"), AuthSession.user_id == bindparam("user")
        )
        counter = upsert(engine.dialect.name, RevocationCounter).values(
            id=_COUNTER_ID, seq=bindparam("count")
        )
        self._count_revocations = counter.on_conflict_do_update(
            index_elements=[RevocationCounter.id],
            set_={"seq": RevocationCounter.seq + bindparam("count")},
        ).returning(RevocationCounter.seq)
        self._log_revocation = insert(Revocation)

    async def start_session(self, session: NewSession) -> bool:
        user_id = uuid.UUID(session.user_id)
        async with self._engine.begin() as conn:
            claimed = await conn.execute(
                self._claim_user, {"user": user_id, "version": session.credentials_version}
            )
            if claimed.rowcount != 1:
                return False
            await conn.execute(
                self._insert_session,
                {
                    "id": session.session_id,
                    "user_id": user_id,
                    "current_token_id": session.refresh_token_id,
                    "credentials_version": session.credentials_version,
                    "client": session.client,
                    "user_agent": session.user_agent,
                    "expires_at": session.expires_at,
                },
            )
        return True

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
        # `user_id` is the token's subject, which we signed with the session id: the session's
        # own user_id is the one the statements join on.
        async with self._engine.begin() as conn:
            user = (
                await conn.execute(
                    self._rotate,
                    {
                        "session": session_id,
                        "old": old_token_id,
                        "new": new_token_id,
                        "new_client": client,
                        "new_agent": user_agent,
                    },
                )
            ).one_or_none()
            if user is not None:
                # Made before the commit: if making them fails, the rotation rolls back.
                return Rotation(RotateOutcome.ROTATED, make_tokens(user_from_row(user)))
            refusal = (await conn.execute(self._refusal, {"session": session_id})).one_or_none()
            if refusal is None:
                # Unknown, or revoked already.
                return Rotation(RotateOutcome.INVALID)
            is_open, user_active, current = refusal
            if not user_active:
                # Gone or deactivated, perhaps by hand in SQL without revoking anything: its
                # session ends here, its access tokens with it.
                await self._revoke(conn, _revoking(AuthSession.id == session_id), {})
                return Rotation(RotateOutcome.INVALID)
            if not (is_open and current):
                # Over, or issued under credentials that have changed since.
                return Rotation(RotateOutcome.INVALID)
            # A validly signed but rotated-out token of a live session: revoke it all.
            await self._revoke(conn, _revoking(AuthSession.id == session_id), {})
        return Rotation(RotateOutcome.REUSED)

    async def list_sessions(self, user_id: str) -> list[SessionInfo]:
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(
                    AuthSession.id,
                    AuthSession.created_at,
                    AuthSession.last_used_at,
                    AuthSession.client,
                    AuthSession.user_agent,
                )
                .where(AuthSession.user_id == uuid.UUID(user_id), *_live())
                .order_by(AuthSession.created_at, AuthSession.id)
            )
            return [SessionInfo(*row) for row in rows]

    async def revoke_session(self, session_id: str, user_id: str) -> bool:
        async with self._engine.begin() as conn:
            revoked = await self._revoke(
                conn, self._revoke_one, {"session": session_id, "user": uuid.UUID(user_id)}
            )
        return any(expires_at > revoked_at for _, revoked_at, expires_at in revoked)

    async def revoke_user(
        self,
        user_id: str,
        *,
        credentials_version: int | None = None,
        keep_session: str | None = None,
    ) -> None:
        # The version lives on the user's row, which the caller changed before calling:
        # start_session and rotate read it there, in their own transactions. So between that
        # change and this transaction, a refresh of `keep_session` itself is refused (INVALID,
        # its token not spent); a retry after this commit succeeds.
        owner = AuthSession.user_id == uuid.UUID(user_id)
        async with self._engine.begin() as conn:
            kept = 0
            if keep_session is not None and credentials_version is not None:
                # Re-stamped in the transaction that revokes the others: the session that
                # changed the password goes on under the new version, and no other does.
                kept = (
                    await conn.execute(
                        update(AuthSession)
                        .where(
                            owner,
                            AuthSession.id == keep_session,
                            AuthSession.credentials_version == credentials_version - 1,
                            AuthSession.revoked_at.is_(None),
                            AuthSession.expires_at > database_now(),
                        )
                        .values(credentials_version=credentials_version)
                    )
                ).rowcount
            others = (AuthSession.id != keep_session,) if kept == 1 else ()
            await self._revoke(conn, _revoking(owner, *others), {})

    async def _revoke(
        self, conn: AsyncConnection, revoking: Update, params: dict[str, Any]
    ) -> Sequence[Row[tuple[str, float, int]]]:
        """Run `revoking` (see _revoking) with `params` and log the sessions it revoked, in
        `conn`'s transaction; returns their ids, revocation times and ends.

        The log's numbers are taken last, just before the commit, so the counter's row is
        locked for as short a time as possible.
        """
        rows: Sequence[Row[tuple[str, float, int]]] = (await conn.execute(revoking, params)).all()
        if not rows:
            return rows
        last = await conn.scalar(self._count_revocations, {"count": len(rows)})
        assert last is not None
        entries = [
            {
                "seq": last - len(rows) + number,
                "session_id": session_id,
                "until": revoked_at + self._access_ttl + _REVOCATION_MARGIN_SECONDS,
            }
            for number, (session_id, revoked_at, _) in enumerate(rows, start=1)
        ]
        await conn.execute(self._log_revocation, entries[0] if len(entries) == 1 else entries)
        # Refused by this worker at once; the others learn it from their next poll.
        self._apply((entry["session_id"], entry["until"]) for entry in entries)
        return rows

    def _apply(self, entries: Iterable[tuple[str, float]]) -> None:
        for session_id, until in entries:
            self._revoked.add(session_id, until)

    async def open(self) -> None:
        """Load the revocations that still matter, then follow the log in the background."""
        async with self._engine.connect() as conn:
            # The counter first: whatever commits after this read has a higher number and
            # reaches the poll; whatever committed before is in the window read next.
            self._seen = await conn.scalar(select(RevocationCounter.seq)) or 0
            window = await conn.execute(
                select(Revocation.session_id, Revocation.until).where(
                    Revocation.until > database_now()
                )
            )
            self._apply(window.all())
        self._task = asyncio.create_task(self._follow())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def poll(self) -> None:
        """Apply every revocation numbered after the last one this worker has seen."""
        async with self._engine.connect() as conn:
            entries = (
                await conn.execute(
                    select(Revocation.session_id, Revocation.until, Revocation.seq)
                    .where(Revocation.seq > self._seen)
                    .order_by(Revocation.seq)
                )
            ).all()
        self._apply((session_id, until) for session_id, until, _ in entries)
        if entries:
            self._seen = entries[-1].seq

    async def _follow(self) -> None:
        """Poll for other workers' revocations, and now and then purge what has expired."""
        last_purge = time.monotonic()
        while True:
            await asyncio.sleep(self._poll_seconds)
            try:
                await self.poll()
                if time.monotonic() - last_purge > _PURGE_EVERY_SECONDS:
                    await self._purge()
                    last_purge = time.monotonic()
            # A database outage must not end the task: this worker would then never again
            # learn of other workers' revocations. OSError: connection failures some drivers
            # (asyncpg) raise unwrapped.
            except (SQLAlchemyError, OSError):
                logger.exception("could not poll revocations; retrying")

    async def _purge(self) -> None:
        self._revoked.purge()
        async with self._engine.begin() as conn:
            now = database_now()
            await conn.execute(delete(Revocation).where(Revocation.until < now))
            await conn.execute(
                delete(AuthSession).where(AuthSession.expires_at < now - self._access_ttl)
            )


def build_backend(settings: Settings, engine: AsyncEngine) -> StoreBackend:
    """Sessions, revocations and throttling slots, all in the application database."""
    revoked = RevokedSessions()
    store = DatabaseTokenStore(
        engine,
        revoked,
        access_ttl=settings.access_token_seconds,
        poll_seconds=settings.revocation_poll_seconds,
    )
    return StoreBackend(store, revoked, DatabaseAttemptLog(engine))
