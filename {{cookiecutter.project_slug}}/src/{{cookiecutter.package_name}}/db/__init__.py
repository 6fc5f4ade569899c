"""The database: the async engine of the chosen dialect, the ORM base, sessions."""

from .core import Base, async_database_url, create_sessionmaker, database_now, upsert
from .{{ cookiecutter.database }} import DEFAULT_URL, URL_SCHEMES, create_engine

__all__ = [
    "DEFAULT_URL",
    "URL_SCHEMES",
    "Base",
    "async_database_url",
    "create_engine",
    "create_sessionmaker",
    "database_now",
    "upsert",
]
