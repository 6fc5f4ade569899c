"""A throwaway PostgreSQL database for one test run, on the server TEST_DATABASE_URL names.

Creating and migrating a database costs far more than emptying its tables, so a run (each
xdist worker) makes one, every test starts by emptying it, and the run drops it at the end.
"""

import asyncio
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from {{ cookiecutter.package_name }}.db import Base, async_database_url

DEFAULT_SERVER_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
CONNECT_TIMEOUT_SECONDS = 5


def server_url() -> str:
    """A database on the test server that we may connect to and create databases from."""
    return async_database_url(os.environ.get("TEST_DATABASE_URL", DEFAULT_SERVER_URL))


def display(url: str) -> str:
    """The URL without its password, for messages."""
    return make_url(url).render_as_string(hide_password=True)


def _engine(url: str, **options: object) -> AsyncEngine:
    return create_async_engine(url, connect_args={"timeout": CONNECT_TIMEOUT_SECONDS}, **options)


async def _execute(url: str, statement: str) -> None:
    # Autocommit: CREATE and DROP DATABASE refuse to run inside a transaction.
    engine = _engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


async def _delete_all_rows(url: str) -> None:
    engine = _engine(url)
    try:
        async with engine.begin() as connection:
            # Children first, for the foreign keys. DELETE beats TRUNCATE on tables this small.
            for table in reversed(Base.metadata.sorted_tables):
                await connection.execute(table.delete())
    finally:
        await engine.dispose()


def check(server: str) -> None:
    """Raise OSError or SQLAlchemyError unless the server answers."""
    asyncio.run(_execute(server, "SELECT 1"))


@contextmanager
def temporary_database(server: str) -> Iterator[str]:
    """An empty database with a random name (its URL), dropped afterwards even if a failed
    test left a connection open."""
    name = f"{{ cookiecutter.package_name }}_test_{secrets.token_hex(6)}"
    asyncio.run(_execute(server, f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_execute(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def empty_tables(database: str) -> None:
    """Delete every row of every table, keeping the schema and Alembic's version."""
    asyncio.run(_delete_all_rows(database))
