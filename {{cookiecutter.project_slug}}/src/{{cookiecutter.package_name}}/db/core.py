"""What every database of the service shares: the ORM base, sessions, and two SQL helpers
that SQLite and PostgreSQL spell differently."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from importlib import import_module
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import FunctionElement
from sqlalchemy.types import Float

if TYPE_CHECKING:
    from sqlalchemy.dialects import postgresql, sqlite

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


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


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


_DIALECT_MODULES = {
    "sqlite": "sqlalchemy.dialects.sqlite",
    "postgresql": "sqlalchemy.dialects.postgresql",
}


@cache
def _insert_of(dialect: str) -> Callable[..., Any]:
    """The dialect's own INSERT, its module imported on first use: a service on SQLite never
    loads PostgreSQL's dialect (some 50 ms of CPU at every start), nor the reverse."""
    return import_module(_DIALECT_MODULES[dialect]).insert


def upsert(dialect: str, table: type[Base]) -> sqlite.Insert | postgresql.Insert:
    """An INSERT that can say ON CONFLICT ... DO UPDATE, in the SQL of `dialect` (an engine's
    `dialect.name`).

    SQLite (3.24+) and PostgreSQL spell it alike, and both make it one atomic statement:
    the row is created or updated, and locked until the transaction ends.
    """
    return _insert_of(dialect)(table)
