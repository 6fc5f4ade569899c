"""The SQLite engine: one file that several worker processes share."""

import logging
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from .core import async_database_url


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers proceed while one writer commits (several workers share the file);
    # busy_timeout makes a writer wait for the lock instead of failing at once.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_engine(url: str) -> AsyncEngine:
    """An engine for `url`, with SQLite tuned for several concurrent workers."""
    url = async_database_url(url)
    # Bound parameters (password hashes, ids) never reach SQL logs or exception messages,
    # even with echo on or the `sqlalchemy.engine` logger at INFO.
    engine = create_async_engine(url, hide_parameters=True)
    event.listen(engine.sync_engine, "connect", _tune_sqlite)
    # aiosqlite's DEBUG records repeat every statement with its parameters, which
    # hide_parameters cannot reach: keep them off even when the root logger is at DEBUG.
    logging.getLogger("aiosqlite").setLevel(logging.INFO)
    return engine
