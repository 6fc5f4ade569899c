"""Database fixtures for SQLite (a pytest plugin that conftest.py loads): a file migrated once
per run, copied for each test, which is far faster than migrating again."""

import shutil
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.db.migrate import upgrade_to_head


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database file migrated once; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade_to_head(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="module")
def module_database_url(tmp_path_factory: pytest.TempPathFactory, migrated_db: Path) -> str:
    """A copy of the migrated database for the app one module shares."""
    path = tmp_path_factory.mktemp("module") / "test.db"
    shutil.copyfile(migrated_db, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
def empty_database_url(tmp_path: Path) -> str:
    """A database without tables, as before `migrate`."""
    return f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"


@pytest.fixture
def unreachable_database_url(tmp_path: Path) -> str:
    """A database that cannot be opened: its directory does not exist."""
    return f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'test.db'}"


@pytest.fixture
def database_url(tmp_path: Path, migrated_db: Path) -> str:
    """A migrated database of the test's own."""
    path = tmp_path / "test.db"
    shutil.copyfile(migrated_db, path)
    return f"sqlite+aiosqlite:///{path}"
