"""The Alembic migration creates exactly the tables the models describe."""

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from {{ cookiecutter.package_name }}.db import Base


def test_migration_matches_the_models(migrated_db: Path) -> None:
    engine = create_engine(f"sqlite:///{migrated_db}")
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert diff == []
