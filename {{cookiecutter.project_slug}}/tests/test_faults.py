"""The database going away while the service runs.

Requests that need it answer 503 with a short fixed body (never a 500, never a traceback or a
driver message naming files, hosts or SQL), routes that need no database keep working, and
everything comes back by itself, including the revocation updates from other workers.
"""

import asyncio
import shutil
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.main import create_app

from conftest import bearer, client_for, login

UNAVAILABLE = {"detail": "Service temporarily unavailable"}
# Words of a leaked exception: its traceback, the driver's message, the database file.
LEAK_MARKERS = ("Traceback", "sqlite", "sqlalchemy", "OperationalError", "database file", ".db")
POLL_SECONDS = 0.05  # conftest's REVOCATION_POLL_SECONDS


@pytest.fixture
def database_dir(tmp_path: Path, migrated_db: Path) -> Path:
    """The test database, alone in a directory that an outage can take away."""
    directory = tmp_path / "database"
    directory.mkdir()
    shutil.copyfile(migrated_db, directory / "test.db")
    return directory


@pytest.fixture
def database_url(database_dir: Path) -> str:
    return f"sqlite+aiosqlite:///{database_dir / 'test.db'}"


@asynccontextmanager
async def database_outage(directory: Path, *apps: FastAPI) -> AsyncIterator[None]:
    """The database cannot be reached until the block ends.

    Its directory is moved away, so no connection can open it, and the apps' pooled
    connections are closed, as a server restart or a network cut would drop them.
    """
    hidden = directory.with_name(directory.name + "-unreachable")
    await asyncio.to_thread(directory.rename, hidden)
    try:
        for app in apps:
            await app.state.services.sessionmaker.kw["bind"].dispose()
        yield
    finally:
        await asyncio.to_thread(hidden.rename, directory)


async def refresh(client: httpx.AsyncClient, tokens: dict[str, str]) -> httpx.Response:
    return await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == UNAVAILABLE
    assert not [marker for marker in LEAK_MARKERS if marker.lower() in response.text.lower()]


async def test_requests_that_need_the_database_get_503(
    app: FastAPI, database_dir: Path, client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    headers = bearer(tokens["access_token"])
    async with database_outage(database_dir, app):
        assert_unavailable(await login(client))
        assert_unavailable(await refresh(client, tokens))
        assert_unavailable(await client.get("/users/me", headers=headers))
        # Verifying an access token needs no database: token-only routes keep serving.
        assert (await client.get("/protected", headers=headers)).status_code == 200


async def test_service_comes_back_with_the_database(
    app: FastAPI, database_dir: Path, client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    async with database_outage(database_dir, app):
        assert (await refresh(client, tokens)).status_code == 503
    assert (await login(client)).status_code == 200
    me = await client.get("/users/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 200
    # The refresh that failed did not spend the token: the client's retry works, and is not
    # mistaken for the reuse of a stolen token (which would end the session).
    retried = await refresh(client, tokens)
    assert retried.status_code == 200, retried.text


async def test_revocations_from_other_workers_arrive_after_an_outage(
    app: FastAPI,
    settings: Settings,
    database_dir: Path,
    client: httpx.AsyncClient,
    tokens: dict[str, str],
) -> None:
    other_worker = create_app(settings)
    async with (
        other_worker.router.lifespan_context(other_worker),
        client_for(other_worker) as other,
    ):
        async with database_outage(database_dir, app, other_worker):
            # Long enough for several revocation polls to fail.
            await asyncio.sleep(10 * POLL_SECONDS)
        headers = bearer(tokens["access_token"])
        assert (await other.post("/auth/logout", headers=headers)).status_code == 204
        deadline = time.monotonic() + 1.0
        while (await client.get("/protected", headers=headers)).status_code == 200:
            assert time.monotonic() < deadline, "revocation did not arrive within 1 s"
            await asyncio.sleep(POLL_SECONDS)
