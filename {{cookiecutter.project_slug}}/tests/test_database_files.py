"""The SQLite files are private: the database and its `-wal` and `-shm` files hold password
hashes and session ids, so only the service's own user may read them (mode 0600)."""

import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from {{ cookiecutter.package_name }}.cli import app as cli
from {{ cookiecutter.package_name }}.config import get_settings

from conftest import login

SUFFIXES = ("", "-wal", "-shm")


@pytest.fixture(autouse=True)
def _usual_umask() -> Iterator[None]:
    """The common umask 022, under which SQLite alone would make the files 0644: with a
    stricter one this test could not tell a private file from a lucky one."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


@pytest.fixture
def database_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A database that `python -m {{ cookiecutter.package_name }} migrate` created."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'service.db'}"
    monkeypatch.setenv("SECRET_KEY", secrets.token_urlsafe(48))
    monkeypatch.setenv("JWT_ALGORITHM", "HS256")
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    result = CliRunner().invoke(cli, ["migrate"])
    get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    return url


def modes(database: Path) -> dict[str, str]:
    """The permission bits of the database's files that exist, by name."""
    files = (database.with_name(database.name + suffix) for suffix in SUFFIXES)
    return {file.name: oct(stat.S_IMODE(file.stat().st_mode)) for file in files if file.exists()}


def test_migrate_creates_the_database_0600(tmp_path: Path, database_url: str) -> None:
    found = modes(tmp_path / "service.db")
    assert "service.db" in found
    assert set(found.values()) == {"0o600"}


async def test_the_files_of_a_serving_app_are_0600(
    tmp_path: Path, client: httpx.AsyncClient, user_id: str
) -> None:
    response = await login(client)
    assert response.status_code == 200, response.text
    # The app's pooled connections are open, so SQLite keeps its WAL and shared memory.
    assert modes(tmp_path / "service.db") == dict.fromkeys(
        ["service.db", "service.db-wal", "service.db-shm"], "0o600"
    )
