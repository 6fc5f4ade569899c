"""Database fixtures for PostgreSQL (a pytest plugin that conftest.py loads): one throwaway
database per run, migrated once and emptied before every test."""

from collections.abc import Iterator

import pytest
from sqlalchemy.exc import SQLAlchemyError

from {{ cookiecutter.package_name }}.db.migrate import upgrade_to_head

import postgres_db
from required_services import require_service


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The test server's URL, once it has answered."""
    server = postgres_db.server_url()
    try:
        postgres_db.check(server)
    except (OSError, SQLAlchemyError) as exc:
        require_service(
            f"PostgreSQL is not reachable at {postgres_db.display(server)} "
            f"(set TEST_DATABASE_URL): {type(exc).__name__}"
        )
    return server


@pytest.fixture(scope="session")
def migrated_db(postgres_server: str) -> Iterator[str]:
    """A database created and migrated once per run (per xdist worker), dropped at the end."""
    with postgres_db.temporary_database(postgres_server) as database:
        upgrade_to_head(database)
        yield database


@pytest.fixture(scope="module")
def module_database_url(postgres_server: str) -> Iterator[str]:
    """A migrated database of one module's own, for the app the module shares."""
    with postgres_db.temporary_database(postgres_server) as database:
        upgrade_to_head(database)
        yield database


@pytest.fixture
def empty_database_url(postgres_server: str) -> Iterator[str]:
    """A database without tables, as before `migrate`."""
    with postgres_db.temporary_database(postgres_server) as database:
        yield database


@pytest.fixture
def unreachable_database_url() -> str:
    """A server that refuses connections: nothing listens on port 1."""
    return "postgresql+asyncpg://postgres@127.0.0.1:1/unreachable"


@pytest.fixture
def database_url(migrated_db: str) -> str:
    """The run's database, emptied: far cheaper than a new database per test."""
    postgres_db.empty_tables(migrated_db)
    return migrated_db
