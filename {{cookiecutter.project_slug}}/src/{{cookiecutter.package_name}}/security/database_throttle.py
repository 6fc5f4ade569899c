"""Throttling attempts recorded in the application database, shared by every worker and host.

Two tables: `throttle_buckets` has one row per bucket, which a reservation upserts first to
lock it (PostgreSQL locks the row until commit; SQLite takes its single write lock), so the
reservations of one bucket run one at a time. `throttle_attempts` has one row per attempt; a
reservation counts those still in their window under that lock and adds its own only if every
bucket has room. Rows whose window has passed count for nothing and are deleted now and then
(every _PURGE_EVERY_SECONDS), not by every reservation: a bucket holds at most its
`max_attempts` rows per window, since refused attempts are never recorded. Times come from
the database's clock, the one all hosts share.
"""

import math
import time
from collections.abc import Collection, Sequence

from sqlalchemy import Float, Index, String, bindparam, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
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
    """AttemptLog on SQLAlchemy Core: a moving window per bucket, serialised by a row lock.

    Statements are built once: a login's reservation and give-back are several small
    statements, and building them each time would cost more than running them.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._last_purge = time.monotonic()
        touch = upsert(engine.dialect.name, ThrottleBucket).values(
            key=bindparam("bucket"), touched_at=database_now()
        )
        self._touch = touch.on_conflict_do_update(
            index_elements=[ThrottleBucket.key], set_={"touched_at": touch.excluded.touched_at}
        )
        self._now = select(database_now())
        in_window = ThrottleAttempt.expires_at > database_now()
        # One statement for all the buckets of an attempt: fewer round trips (and, on SQLite,
        # thread hand-offs) while the buckets are locked.
        self._count = (
            select(ThrottleAttempt.bucket, func.count())
            .where(ThrottleAttempt.bucket.in_(bindparam("buckets", expanding=True)), in_window)
            .group_by(ThrottleAttempt.bucket)
        )
        self._nth_expiry = (
            select(ThrottleAttempt.expires_at)
            .where(
                ThrottleAttempt.bucket == bindparam("bucket"),
                ThrottleAttempt.expires_at > bindparam("now"),
            )
            .order_by(ThrottleAttempt.expires_at)
            .offset(bindparam("skip"))
            .limit(1)
        )
        self._record = insert(ThrottleAttempt).values(
            expires_at=database_now() + bindparam("window_seconds", type_=Float())
        )
        self._release = delete(ThrottleAttempt).where(
            ThrottleAttempt.attempt_id == bindparam("attempt"),
            ThrottleAttempt.bucket.in_(bindparam("buckets", expanding=True)),
        )

    async def reserve(self, limits: Sequence[Limit], attempt_id: str) -> ThrottledError | None:
        # Buckets in one order for every caller: two reservations can never wait on each other
        # in a cycle.
        ordered = sorted(limits, key=lambda limit: limit.bucket)
        async with self._engine.begin() as conn:
            # The write comes first: on SQLite it takes the write lock before anything is read.
            # Row by row in that order (one executemany): PostgreSQL locks each as it goes.
            await conn.execute(self._touch, [{"bucket": limit.bucket} for limit in ordered])
            counted = await conn.execute(
                self._count, {"buckets": [limit.bucket for limit in ordered]}
            )
            counts: dict[str, int] = {bucket: count for bucket, count in counted}
            full = [limit for limit in ordered if counts.get(limit.bucket, 0) >= limit.max_attempts]
            if full:
                return await self._refusal(conn, full, counts)
            await conn.execute(
                self._record,
                [
                    {
                        "bucket": limit.bucket,
                        "attempt_id": attempt_id,
                        "window_seconds": limit.window_seconds,
                    }
                    for limit in ordered
                ],
            )
        await self._purge_now_and_then()
        return None

    async def _refusal(
        self, conn: AsyncConnection, full: Sequence[Limit], counts: dict[str, int]
    ) -> ThrottledError:
        """How long until every one of the `full` buckets has room, and the scope of the one
        that takes longest."""
        now = await conn.scalar(self._now)
        assert now is not None
        refusals = []
        for limit in full:
            # The slot that frees first: the one that leaves `max_attempts - 1` behind it.
            # None when it left its window since the count, a moment ago: room in a second.
            frees_at = await conn.scalar(
                self._nth_expiry,
                {
                    "bucket": limit.bucket,
                    "now": now,
                    "skip": counts[limit.bucket] - limit.max_attempts,
                },
            )
            wait = 1 if frees_at is None else max(1, math.ceil(frees_at - now))
            refusals.append(ThrottledError(wait, limit.scope))
        return max(refusals, key=lambda refusal: refusal.retry_after)

    async def release(self, attempt_id: str, buckets: Collection[str]) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(self._release, {"attempt": attempt_id, "buckets": list(buckets)})

    async def _purge_now_and_then(self) -> None:
        """Drop expired attempts of buckets nobody has used since, and idle bucket rows."""
        if time.monotonic() - self._last_purge < _PURGE_EVERY_SECONDS:
            return
        self._last_purge = time.monotonic()
        async with self._engine.begin() as conn:
            now = database_now()
            await conn.execute(delete(ThrottleAttempt).where(ThrottleAttempt.expires_at <= now))
            idle = ThrottleBucket.touched_at <= now - _BUCKET_IDLE_SECONDS
            await conn.execute(delete(ThrottleBucket).where(idle))

    async def close(self) -> None:
        """Nothing of its own to release: the engine belongs to the app."""
