"""The token store kept in the application database (the `auth_sessions` table).

Revocations reach other workers by a cheap indexed poll of `revoked_at`, at most
REVOCATION_POLL_SECONDS late, so verifying an access token never waits for the database.
"""

import asyncio
import contextlib
import logging
import time
import uuid

from sqlalchemy import delete, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..auth.models import AuthSession
from .revocation import RevokedSessions, RotateOutcome

logger = logging.getLogger(__name__)

# A poll re-reads this much of the recent past, so that a revocation whose transaction
# committed just after the previous poll read its timestamp is not missed.
_POLL_OVERLAP_SECONDS = 5.0
_PURGE_EVERY_SECONDS = 600.0


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
        self._task: asyncio.Task[None] | None = None

    async def start_session(
        self, user_id: str, session_id: str, refresh_token_id: str, expires_at: int
    ) -> None:
        async with self._sessionmaker() as db, db.begin():
            db.add(
                AuthSession(
                    id=session_id,
                    user_id=uuid.UUID(user_id),
                    current_token_id=refresh_token_id,
                    created_at=time.time(),
                    expires_at=expires_at,
                )
            )

    async def rotate(self, session_id: str, old_token_id: str, new_token_id: str) -> RotateOutcome:
        now = time.time()
        async with self._sessionmaker() as db, db.begin():
            # Compare-and-swap: of concurrent refreshes with one token, only the first matches.
            result = await db.execute(
                update(AuthSession)
                .where(
                    AuthSession.id == session_id,
                    AuthSession.current_token_id == old_token_id,
                    AuthSession.revoked_at.is_(None),
                    AuthSession.expires_at > now,
                )
                .values(current_token_id=new_token_id)
            )
            if result.rowcount == 1:
                return RotateOutcome.ROTATED
            row = await db.get(AuthSession, session_id)
            if row is None or row.revoked_at is not None or row.expires_at <= now:
                return RotateOutcome.INVALID
            # A validly signed but rotated-out token of a live session: revoke it all.
            row.revoked_at = now
        self._revoke_locally([session_id], now)
        return RotateOutcome.REUSED

    async def revoke_session(self, session_id: str, user_id: str) -> None:
        now = time.time()
        async with self._sessionmaker() as db, db.begin():
            await db.execute(
                update(AuthSession)
                .where(
                    AuthSession.id == session_id,
                    AuthSession.user_id == uuid.UUID(user_id),
                    AuthSession.revoked_at.is_(None),
                )
                .values(revoked_at=now)
            )
        self._revoke_locally([session_id], now)

    async def revoke_user(self, user_id: str) -> None:
        now = time.time()
        async with self._sessionmaker() as db, db.begin():
            live = AuthSession.user_id == uuid.UUID(user_id), AuthSession.revoked_at.is_(None)
            ids = list(await db.scalars(select(AuthSession.id).where(*live)))
            await db.execute(update(AuthSession).where(*live).values(revoked_at=now))
        self._revoke_locally(ids, now)

    def _revoke_locally(self, session_ids: list[str], revoked_at: float) -> None:
        # Access tokens of the session were all issued before `revoked_at`, so none can be
        # valid beyond revoked_at + access lifetime: the entry can be forgotten then.
        for session_id in session_ids:
            self._revoked.add(session_id, revoked_at + self._access_ttl + 60)

    async def open(self) -> None:
        started = time.time()
        await self._load_revocations(since=started - self._access_ttl - 60)
        self._task = asyncio.create_task(self._poll(since=started - _POLL_OVERLAP_SECONDS))

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _load_revocations(self, since: float) -> None:
        async with self._sessionmaker() as db:
            rows = await db.execute(
                select(AuthSession.id, AuthSession.revoked_at).where(
                    AuthSession.revoked_at >= since
                )
            )
            for session_id, revoked_at in rows:
                self._revoke_locally([session_id], revoked_at)

    async def _poll(self, since: float) -> None:
        """Pull revocations made by other workers, and now and then purge what has expired."""
        last_purge = time.monotonic()
        while True:
            await asyncio.sleep(self._poll_seconds)
            started = time.time()
            try:
                await self._load_revocations(since)
                since = started - _POLL_OVERLAP_SECONDS
                if time.monotonic() - last_purge > _PURGE_EVERY_SECONDS:
                    await self._purge(started)
                    last_purge = time.monotonic()
            except SQLAlchemyError:
                logger.exception("could not poll revocations; retrying")

    async def _purge(self, now: float) -> None:
        self._revoked.purge(now)
        async with self._sessionmaker() as db, db.begin():
            await db.execute(
                delete(AuthSession).where(AuthSession.expires_at < now - self._access_ttl)
            )
