"""The Alembic migration creates exactly the tables the models describe, and the start-up check
(db/schema.py), which reads revisions without Alembic, agrees with Alembic about them."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection

from {{ cookiecutter.package_name }}.db import Base, create_engine
from {{ cookiecutter.package_name }}.db.schema import (
    MIGRATIONS_DIR,
    DatabaseNotReadyError,
    check_schema,
    head_revisions,
    reachable_revisions,
)


def _differences(connection: Connection) -> list[object]:
    return compare_metadata(MigrationContext.configure(connection), Base.metadata)


def _alembic_current(connection: Connection) -> frozenset[str]:
    return frozenset(MigrationContext.configure(connection).get_current_heads())


async def test_migration_matches_the_models(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            diff = await connection.run_sync(_differences)
    finally:
        await engine.dispose()
    assert diff == []


def test_the_head_is_alembics_head() -> None:
    """A new revision file moves the head the service requires, with nothing else to update."""
    assert head_revisions() == frozenset(ScriptDirectory(str(MIGRATIONS_DIR)).get_heads())


async def test_a_migrated_database_is_at_alembics_revision(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            alembic_says = await connection.run_sync(_alembic_current)
        assert await reachable_revisions(engine) == alembic_says == head_revisions()
        await check_schema(engine)
    finally:
        await engine.dispose()


async def test_a_database_at_another_revision_is_refused(empty_database_url: str) -> None:
    engine = create_engine(empty_database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
            )
            await connection.execute(text("INSERT INTO alembic_version VALUES ('0000')"))
        with pytest.raises(DatabaseNotReadyError) as refused:
            await check_schema(engine)
    finally:
        await engine.dispose()
    needed = ", ".join(sorted(head_revisions()))
    assert str(refused.value) == (
        f"the database is at revision 0000, this version needs {needed}: "
        "run `python -m {{ cookiecutter.package_name }} migrate`"
    )
