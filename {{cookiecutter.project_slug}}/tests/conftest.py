"""Shared fixtures: a migrated database per test, the app, an HTTP client and a user."""

import secrets
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from {{ cookiecutter.package_name }}.cli import alembic_config
from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.users import repository as users

SECRET_KEY = secrets.token_urlsafe(48)
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database file migrated once; each test gets a copy, which is far faster."""
    from alembic import command

    path = tmp_path_factory.mktemp("template") / "template.db"
    command.upgrade(alembic_config(f"sqlite+aiosqlite:///{path}"), "head")
    return path


def make_settings(database_url: str, **overrides: object) -> Settings:
    """Test settings: never read the developer's .env; cheap hashing; fast revocation sync."""
    values: dict[str, object] = {
        "secret_key": SECRET_KEY,
        "jwt_algorithm": "HS256",
        "database_url": database_url,
        "argon2_time_cost": 1,
        "argon2_memory_kib": 1024,
        "argon2_parallelism": 1,
        "revocation_poll_seconds": 0.05,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


@pytest.fixture
def database_url(tmp_path: Path, migrated_db: Path) -> str:
    path = tmp_path / "test.db"
    shutil.copyfile(migrated_db, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


def client_for(application: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://test")


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as http:
        yield http


async def add_user(app: FastAPI, username: str, password: str = PASSWORD) -> str:
    """Create a user straight in the database; returns its id."""
    password_hash = await app.state.passwords.hash_async(password)
    async with app.state.sessionmaker() as db:
        user = await users.create(db, username, password_hash)
    return str(user.id)


@pytest.fixture
async def user_id(app: FastAPI) -> str:
    return await add_user(app, "alice@example.com")


async def login(
    client: httpx.AsyncClient, username: str = "alice@example.com", password: str = PASSWORD
) -> httpx.Response:
    return await client.post("/auth/login", data={"username": username, "password": password})


@pytest.fixture
async def tokens(client: httpx.AsyncClient, user_id: str) -> dict[str, str]:
    response = await login(client)
    assert response.status_code == 200, response.text
    return response.json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
