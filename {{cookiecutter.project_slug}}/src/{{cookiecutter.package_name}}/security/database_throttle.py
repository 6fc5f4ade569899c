"""Throttling attempts recorded in the application database, shared by every worker and host.

Two tables: `throttle_buckets` has one row per bucket, which a reservation upserts first to
lock it (PostgreSQL locks the row until commit; SQLite takes its single write lock), so the
reservations of one bucket run one at a time. `throttle_attempts` has one row per attempt
until its window has passed; a reservation counts them under that lock and adds its own only
if every bucket has room. Times come from the database's clock, the one all hosts share.
"""

import math
import time
from collections.abc import Collection, Sequence

from sqlalchemy import Float, Index, String, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, database_now, upsert
from .throttle import Limit, ThrottledError

_PURGE_EVERY_SECONDS = 600.0
# Longer than any window the settings allow: a bucket row untouched this long is unused.
_BUCKET_IDLE_SECONDS = 86400 + 3600


class ThrottleBucket(Base):
    __tablename__ = "throttle_buckets"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    touched_at: Mapped[float] = mapped_column(Float)


class ThrottleAttempt(Base):
    __tablename__ = "throttle_attempts"
    __table_args__ = (Index("ix_throttle_attempts_bucket_expires_at", "bucket", "expires_at"),)

    bucket: Mapped[str] = mapped_column(String(64), primary_key=True)
    attempt_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # When the attempt leaves its window and stops counting.
    expires_at: Mapped[float] = mapped_column(Float, index=True)


class DatabaseAttemptLog:
    """AttemptLog on SQLAlchemy: a moving window per bucket, serialised by a row lock."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker
        self._last_purge = time.monotonic()

    async def reserve(self, limits: Sequence[Limit], attempt_id: str) -> ThrottledError | None:
        # Buckets in one order for every caller: two reservations can never wait on each other
        # in a cycle.
        ordered = sorted(limits, key=lambda limit: limit.bucket)
        async with self._sessionmaker() as db, db.begin():
            # The write comes first: on SQLite it takes the write lock before anything is read.
            statement = upsert(db, ThrottleBucket).values(
                [{"key": limit.bucket, "touched_at": database_now()} for limit in ordered]
            )
            await db.execute(
                statement.on_conflict_do_update(
                    index_elements=[ThrottleBucket.key],
                    set_={"touched_at": statement.excluded.touched_at},
                )
            )
            now = await db.scalar(select(database_now()))
            assert now is not None
            refusals = [
                refusal
                for limit in ordered
                if (refusal := await self._refusal(db, limit, now)) is not None
            ]
            if refusals:
                return max(refusals, key=lambda refusal: refusal.retry_after)
            db.add_all(
                ThrottleAttempt(
                    bucket=limit.bucket,
                    attempt_id=attempt_id,
                    expires_at=now + limit.window_seconds,
                )
                for limit in ordered
            )
        await self._purge_now_and_then()
        return None

    async def _refusal(self, db: AsyncSession, limit: Limit, now: float) -> ThrottledError | None:
        """None if the bucket has room, else how long until it has."""
        await db.execute(
            delete(ThrottleAttempt).where(
                ThrottleAttempt.bucket == limit.bucket, ThrottleAttempt.expires_at <= now
            )
        )
        count = await db.scalar(select(func.count()).where(ThrottleAttempt.bucket == limit.bucket))
        if not count or count < limit.max_attempts:
            return None
        # The slot that frees first: the one that leaves `max_attempts - 1` behind it.
        frees_at = await db.scalar(
            select(ThrottleAttempt.expires_at)
            .where(ThrottleAttempt.bucket == limit.bucket)
            .order_by(ThrottleAttempt.expires_at)
            .offset(count - limit.max_attempts)
            .limit(1)
        )
        assert frees_at is not None
        wait = max(1, math.ceil(frees_at - now))
        return ThrottledError(wait, limit.scope)

    async def release(self, attempt_id: str, buckets: Collection[str]) -> None:
        async with self._sessionmaker() as db, db.begin():
            await db.execute(
                delete(ThrottleAttempt).where(
                    ThrottleAttempt.attempt_id == attempt_id, ThrottleAttempt.bucket.in_(buckets)
                )
            )

    async def _purge_now_and_then(self) -> None:
        """Drop expired attempts of buckets nobody has used since, and idle bucket rows."""
        if time.monotonic() - self._last_purge < _PURGE_EVERY_SECONDS:
            return
        self._last_purge = time.monotonic()
        async with self._sessionmaker() as db, db.begin():
            now = database_now()
            await db.execute(delete(ThrottleAttempt).where(ThrottleAttempt.expires_at <= now))
            idle = ThrottleBucket.touched_at <= now - _BUCKET_IDLE_SECONDS
            await db.execute(delete(ThrottleBucket).where(idle))

    async def close(self) -> None:
        """Nothing of its own to release: the engine belongs to the app."""
