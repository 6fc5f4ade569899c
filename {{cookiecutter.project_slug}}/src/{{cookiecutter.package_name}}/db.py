"""The async database engine, the ORM base class and the session dependency."""

{% if cookiecutter.database == "sqlite" -%}
import logging
{% endif -%}
from collections.abc import AsyncIterator
from typing import Annotated{% if cookiecutter.database == "sqlite" %}, Any{% endif %}

from fastapi import Depends, Request
{%- if cookiecutter.database == "sqlite" %}
from sqlalchemy import event
{%- endif %}
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import FunctionElement
from sqlalchemy.types import Float

_ASYNC_DRIVERS = {
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
}


class Base(DeclarativeBase):
    """Base class of every table; its metadata is what Alembic migrates."""


def async_database_url(url: str) -> str:
    """Map a plain URL (`postgresql://`, `sqlite://`) to its async driver's form."""
    scheme, sep, rest = url.partition("://")
    return f"{_ASYNC_DRIVERS.get(scheme, scheme)}{sep}{rest}"
{%- if cookiecutter.database == "sqlite" %}


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
    engine = create_async_engine(
        url, pool_pre_ping=not url.startswith("sqlite"), hide_parameters=True
    )
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _tune_sqlite)
        # aiosqlite's DEBUG records repeat every statement with its parameters, which
        # hide_parameters cannot reach: keep them off even when the root logger is at DEBUG.
        logging.getLogger("aiosqlite").setLevel(logging.INFO)
    return engine
{%- else %}


def create_engine(url: str) -> AsyncEngine:
    """An engine for `url`; pre-ping swaps out connections the server dropped (a restart)."""
    # Bound parameters (password hashes, ids) never reach SQL logs or exception messages,
    # even with echo on or the `sqlalchemy.engine` logger at INFO.
    return create_async_engine(async_database_url(url), pool_pre_ping=True, hide_parameters=True)
{%- endif %}


class database_now(FunctionElement[float]):
    """The database server's clock, in seconds since the epoch.

    Limits and revocations shared by several hosts are timed by the one clock they all
    share: a worker whose clock is minutes off can then neither shorten a lockout nor hide a
    revocation from the others.
    """

    type = Float()
    inherit_cache = True


@compiles(database_now, "sqlite")
def _sqlite_now(_: database_now, __: SQLCompiler, **___: object) -> str:
    return "((julianday('now') - 2440587.5) * 86400.0)"


@compiles(database_now, "postgresql")
def _postgresql_now(_: database_now, __: SQLCompiler, **___: object) -> str:
    # clock_timestamp(), not now(): now() is frozen at the start of the transaction.
    return "CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS DOUBLE PRECISION)"


_UPSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


def upsert(session: AsyncSession, table: type[Base]) -> sqlite.Insert | postgresql.Insert:
    """An INSERT that can say ON CONFLICT ... DO UPDATE, in the session's SQL dialect.

    SQLite (3.24+) and PostgreSQL spell it alike, and both make it one atomic statement:
    the row is created or updated, and locked until the transaction ends.
    """
    dialect = session.get_bind().dialect.name
    return _UPSERTS[dialect](table)


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request, closed when the response is done."""
    async with request.app.state.sessionmaker() as session:
        yield session


DbSession = Annotated[AsyncSession, Depends(get_session)]
