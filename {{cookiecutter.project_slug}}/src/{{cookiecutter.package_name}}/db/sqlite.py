"""The SQLite engine: one file that several worker processes share."""

import logging
import os
import sqlite3
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from .core import async_database_url

# The schemes DATABASE_URL may start with (the async driver is added where a plain one is
# given), and its default: a file in the working directory.
URL_SCHEMES = frozenset({"sqlite", "sqlite+aiosqlite"})
DEFAULT_URL = "sqlite+aiosqlite:///./{{ cookiecutter.package_name }}.db"


def _create_private_file(
    _dialect: Any, _record: Any, cargs: list[Any], cparams: dict[str, Any]
) -> None:
    """Create the database file 0600 before SQLite opens it: it holds password hashes.

    SQLite would create it 0644 (less the umask), readable by every local user. Made here with
    O_CREAT | O_EXCL and mode 0600, it never exists with a wider mode, not even for an instant,
    and SQLite creates the `-wal` and `-shm` files next to it with the database file's own mode
    (its Unix VFS copies it), so they are born 0600 too. This is race-free where the
    alternatives are not: a chmod after connect leaves a window in which another user can open
    the file and keep the descriptor, and a umask around connect is process-wide, so it would
    race with every other thread creating files meanwhile.
    """
    path = cargs[0]
    if path == ":memory:" or cparams.get("uri"):
        return
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        return  # it keeps the mode it has
    except OSError:
        # No directory, or no permission: SQLite could not open it either. Its own error,
        # raised before aiosqlite starts a thread for the connection: aiosqlite's failed
        # connect can report from that thread after the event loop has closed, which prints
        # a traceback on the way out of a command.
        raise sqlite3.OperationalError("unable to open database file") from None


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
    event.listen(engine.sync_engine, "do_connect", _create_private_file)
    event.listen(engine.sync_engine, "connect", _tune_sqlite)
    # aiosqlite's DEBUG records repeat every statement with its parameters, which
    # hide_parameters cannot reach: keep them off even when the root logger is at DEBUG.
    logging.getLogger("aiosqlite").setLevel(logging.INFO)
    return engine
