"""Alembic environment: runs migrations on the async engine."""

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from {{ cookiecutter.package_name }}.auth.stores import {{ cookiecutter.token_store }}  # noqa: F401 (registers its tables)
from {{ cookiecutter.package_name }}.config import get_settings
from {{ cookiecutter.package_name }}.db import Base, async_database_url, create_engine
from {{ cookiecutter.package_name }}.users import models as user_models  # noqa: F401 (registers tables)

config = context.config
target_metadata = Base.metadata


def _database_url() -> str:
    return config.attributes.get("database_url") or async_database_url(get_settings().database_url)


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = create_engine(_database_url())
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_database_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async())
