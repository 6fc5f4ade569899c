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
from collections.abc import Sequence

from sqlalchemy import ColumnElement, Row, delete, insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ...config import Settings
from ...db import database_now, upsert
from ...security.database_throttle import DatabaseAttemptLog
from ...security.revocation import RevokedSessions
from ...users.models import User
from .database_tables import AuthSession, Revocation, RevocationCounter
from .interface import NewSession, RotateOutcome, SessionInfo, StoreBackend

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


class DatabaseTokenStore:
    """TokenStore on SQLAlchemy; atomic rotation through a conditional UPDATE."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        revoked: RevokedSessions,
        *,
        access_ttl: int,
        poll_seconds: float,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._revoked = revoked
        self._access_ttl = access_ttl
        self._poll_seconds = poll_seconds
        # The highest revocation number this worker has applied.
        self._seen = 0
        self._task: asyncio.Task[None] | None = None

    async def start_session(self, session: NewSession) -> bool:
        user_id = uuid.UUID(session.user_id)
        async with self._sessionmaker() as db, db.begin():
            # Lock the user's row (and on SQLite the database) while it is checked and the
            # session recorded: a concurrent password change either commits first, and the
            # check fails, or waits, and then revokes this session with the others.
            claimed = await db.execute(
                update(User)
                .where(
                    User.id == user_id,
                    User.is_active.is_(True),
                    User.credentials_version == session.credentials_version,
                )
                .values(credentials_version=User.credentials_version)
                .execution_options(synchronize_session=False)
            )
            if claimed.rowcount != 1:
                return False
            await db.execute(
                insert(AuthSession).values(
                    id=session.session_id,
                    user_id=user_id,
                    current_token_id=session.refresh_token_id,
                    credentials_version=session.credentials_version,
                    created_at=database_now(),
                    last_used_at=database_now(),
                    client=session.client,
                    user_agent=session.user_agent,
                    expires_at=session.expires_at,
                )
            )
        return True

    async def rotate(
        self,
        session_id: str,
        old_token_id: str,
        new_token_id: str,
        *,
        client: str | None,
        user_agent: str | None,
    ) -> RotateOutcome:
        async with self._sessionmaker() as db, db.begin():
            live = (AuthSession.id == session_id, *_live())
            # Compare-and-swap: of concurrent refreshes with one token, only the first matches.
            # The same statement records the refresh for the list of sessions: no extra trip.
            result = await db.execute(
                update(AuthSession)
                .where(*live, AuthSession.current_token_id == old_token_id)
                .values(
                    current_token_id=new_token_id,
                    last_used_at=database_now(),
                    client=client,
                    user_agent=user_agent,
                )
                .execution_options(synchronize_session=False)
            )
            if result.rowcount == 1:
                return RotateOutcome.ROTATED
            if await db.scalar(select(AuthSession.id).where(*live)) is None:
                # Unknown, revoked, over, or issued under credentials that have changed since.
                return RotateOutcome.INVALID
            # A validly signed but rotated-out token of a live session: revoke it all.
            await self._revoke(db, AuthSession.id == session_id)
        return RotateOutcome.REUSED

    async def list_sessions(self, user_id: str) -> list[SessionInfo]:
        async with self._sessionmaker() as db:
            rows = await db.execute(
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
        async with self._sessionmaker() as db, db.begin():
            revoked = await self._revoke(
                db, AuthSession.id == session_id, AuthSession.user_id == uuid.UUID(user_id)
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
        async with self._sessionmaker() as db, db.begin():
            kept = 0
            if keep_session is not None and credentials_version is not None:
                # Re-stamped in the transaction that revokes the others: the session that
                # changed the password goes on under the new version, and no other does.
                kept = (
                    await db.execute(
                        update(AuthSession)
                        .where(
                            owner,
                            AuthSession.id == keep_session,
                            AuthSession.credentials_version == credentials_version - 1,
                            AuthSession.revoked_at.is_(None),
                            AuthSession.expires_at > database_now(),
                        )
                        .values(credentials_version=credentials_version)
                        .execution_options(synchronize_session=False)
                    )
                ).rowcount
            others = (AuthSession.id != keep_session,) if kept == 1 else ()
            await self._revoke(db, owner, *others)

    async def _revoke(
        self, db: AsyncSession, *where: ColumnElement[bool]
    ) -> Sequence[Row[tuple[str, float, int]]]:
        """Mark the live sessions matching `where` revoked and log them, in `db`'s transaction;
        returns their ids, revocation times and ends.

        The log's numbers are taken last, just before the commit, so the counter's row is
        locked for as short a time as possible.
        """
        rows = (
            await db.execute(
                update(AuthSession)
                .where(*where, AuthSession.revoked_at.is_(None))
                .values(revoked_at=database_now())
                .returning(AuthSession.id, AuthSession.revoked_at, AuthSession.expires_at)
                .execution_options(synchronize_session=False)
            )
        ).all()
        if not rows:
            return rows
        statement = upsert(db, RevocationCounter).values(id=_COUNTER_ID, seq=len(rows))
        last = await db.scalar(
            statement.on_conflict_do_update(
                index_elements=[RevocationCounter.id],
                set_={"seq": RevocationCounter.seq + len(rows)},
            ).returning(RevocationCounter.seq)
        )
        assert last is not None
        entries = [
            Revocation(
                seq=last - len(rows) + number,
                session_id=session_id,
                until=revoked_at + self._access_ttl + _REVOCATION_MARGIN_SECONDS,
            )
            for number, (session_id, revoked_at, _) in enumerate(rows, start=1)
        ]
        db.add_all(entries)
        # Refused by this worker at once; the others learn it from their next poll.
        self._apply(entries)
        return rows

    def _apply(self, entries: Sequence[Revocation]) -> None:
        for entry in entries:
            self._revoked.add(entry.session_id, entry.until)

    async def open(self) -> None:
        """Load the revocations that still matter, then follow the log in the background."""
        async with self._sessionmaker() as db:
            # The counter first: whatever commits after this read has a higher number and
            # reaches the poll; whatever committed before is in the window read next.
            self._seen = await db.scalar(select(RevocationCounter.seq)) or 0
            window = await db.scalars(select(Revocation).where(Revocation.until > database_now()))
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
        async with self._sessionmaker() as db:
            entries = (
                await db.scalars(
                    select(Revocation).where(Revocation.seq > self._seen).order_by(Revocation.seq)
                )
            ).all()
        self._apply(entries)
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
        async with self._sessionmaker() as db, db.begin():
            now = database_now()
            await db.execute(delete(Revocation).where(Revocation.until < now))
            await db.execute(
                delete(AuthSession).where(AuthSession.expires_at < now - self._access_ttl)
            )


def build_backend(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> StoreBackend:
    """Sessions, revocations and throttling slots, all in the application database."""
    revoked = RevokedSessions()
    store = DatabaseTokenStore(
        sessionmaker,
        revoked,
        access_ttl=settings.access_token_seconds,
        poll_seconds=settings.revocation_poll_seconds,
    )
    return StoreBackend(store, revoked, DatabaseAttemptLog(sessionmaker))
