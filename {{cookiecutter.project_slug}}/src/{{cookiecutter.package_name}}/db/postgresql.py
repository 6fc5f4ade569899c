"""The PostgreSQL engine (asyncpg)."""

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from .core import async_database_url


def create_engine(url: str) -> AsyncEngine:
    """An engine for `url`; pre-ping swaps out connections the server dropped (a restart)."""
    # Bound parameters (password hashes, ids) never reach SQL logs or exception messages,
    # even with echo on or the `sqlalchemy.engine` logger at INFO.
    return create_async_engine(async_database_url(url), pool_pre_ping=True, hide_parameters=True)
