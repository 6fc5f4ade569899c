"""The PostgreSQL engine (asyncpg)."""

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from .core import async_database_url

# The schemes DATABASE_URL may start with (the async driver is added where a plain one is
# given), and its default: a local server's database named after the project.
URL_SCHEMES = frozenset({"postgresql", "postgres", "postgresql+asyncpg"})
DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/{{ cookiecutter.package_name }}"


def create_engine(url: str) -> AsyncEngine:
    """An engine for `url`; pre-ping swaps out connections the server dropped (a restart)."""
    # Bound parameters (password hashes, ids) never reach SQL logs or exception messages,
    # even with echo on or the `sqlalchemy.engine` logger at INFO.
    return create_async_engine(async_database_url(url), pool_pre_ping=True, hide_parameters=True)
