"""Shared fixtures: a migrated database per test, the app, an HTTP client and a user."""

{% if cookiecutter.database == "postgresql" or cookiecutter.token_store == "redis" -%}
import os
{% endif -%}
import secrets
{%- if cookiecutter.database == "sqlite" %}
import shutil
{%- endif %}
from collections.abc import AsyncIterator{% if cookiecutter.database == "postgresql" or cookiecutter.token_store == "redis" %}, Iterator{% endif %}
{%- if cookiecutter.database == "sqlite" %}
from pathlib import Path
{%- endif %}
{%- if cookiecutter.database == "postgresql" or cookiecutter.token_store == "redis" %}
from typing import NoReturn
{%- endif %}

import httpx
import pytest
{%- if cookiecutter.token_store == "redis" %}
import redis
{%- endif %}
from fastapi import FastAPI
{%- if cookiecutter.database == "postgresql" %}
from sqlalchemy.exc import SQLAlchemyError
{%- endif %}

{% if cookiecutter.database == "postgresql" -%}
import postgres_db
{% endif -%}

from {{ cookiecutter.package_name }}.cli import alembic_config
from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.users import repository as users

SECRET_KEY = secrets.token_urlsafe(48)
PASSWORD = "correct horse battery staple"
{%- if cookiecutter.token_store == "redis" %}
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
# One prefix per run (per xdist worker): runs sharing a Redis never see each other's keys.
REDIS_KEY_PREFIX = f"{{ cookiecutter.package_name }}-test-{secrets.token_hex(4)}:"
{%- endif %}
{%- if cookiecutter.database == "postgresql" or cookiecutter.token_store == "redis" %}


def require_service(problem: str) -> NoReturn:
    """Skip a test whose server is not running; with REQUIRE_SERVICES=1 (CI), fail it instead,
    so that a missing server can never turn a red run into a green one."""
    if os.environ.get("REQUIRE_SERVICES") == "1":
        pytest.fail(f"{problem} (REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(problem)
{%- endif %}


{% if cookiecutter.database == "postgresql" -%}
@pytest.fixture(scope="session")
def migrated_db() -> Iterator[str]:
    """A database created and migrated once per run (per xdist worker), dropped at the end."""
    from alembic import command

    server = postgres_db.server_url()
    try:
        database = postgres_db.create_database(server)
    except (OSError, SQLAlchemyError) as exc:
        require_service(
            f"PostgreSQL is not reachable at {postgres_db.display(server)} "
            f"(set TEST_DATABASE_URL): {type(exc).__name__}"
        )
    try:
        command.upgrade(alembic_config(database), "head")
        yield database
    finally:
        postgres_db.drop_database(server, database)
{%- else -%}
@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database file migrated once; each test gets a copy, which is far faster."""
    from alembic import command

    path = tmp_path_factory.mktemp("template") / "template.db"
    command.upgrade(alembic_config(f"sqlite+aiosqlite:///{path}"), "head")
    return path
{%- endif %}


def make_settings(database_url: str, **overrides: object) -> Settings:
    """Test settings: never read the developer's .env; cheap hashing; fast revocation sync."""
    values: dict[str, object] = {
        "secret_key": SECRET_KEY,
        "jwt_algorithm": "HS256",
        "database_url": database_url,
        "argon2_time_cost": 1,
        "argon2_memory_kib": 1024,
        "argon2_parallelism": 1,
        "revocation_poll_seconds": {% if cookiecutter.token_store == "redis" %}0.25{% else %}0.05{% endif %},
{%- if cookiecutter.token_store == "redis" %}
        "redis_url": REDIS_URL,
        "redis_key_prefix": REDIS_KEY_PREFIX,
{%- endif %}
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


{% if cookiecutter.database == "postgresql" -%}
@pytest.fixture
def database_url(migrated_db: str) -> str:
    """The run's database, emptied: far cheaper than a new database per test."""
    postgres_db.empty_tables(migrated_db)
    return migrated_db
{% else -%}
@pytest.fixture
def database_url(tmp_path: Path, migrated_db: Path) -> str:
    path = tmp_path / "test.db"
    shutil.copyfile(migrated_db, path)
    return f"sqlite+aiosqlite:///{path}"
{% endif -%}
{% if cookiecutter.token_store == "redis" %}

@pytest.fixture(scope="session")
def redis_client() -> Iterator[redis.Redis]:
    """A client of the test Redis; the run's keys are deleted at the end."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        require_service(
            f"Redis is not reachable at {REDIS_URL} (set TEST_REDIS_URL): {type(exc).__name__}"
        )
    yield client
    delete_redis_keys(client)
    client.close()


def delete_redis_keys(client: redis.Redis) -> None:
    keys = list(client.scan_iter(match=f"{REDIS_KEY_PREFIX}*", count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture(autouse=True)
def _fresh_redis(request: pytest.FixtureRequest) -> None:
    """A test that builds an app (they all take `database_url`) starts with an empty Redis."""
    if "database_url" in request.fixturenames:
        delete_redis_keys(request.getfixturevalue("redis_client"))
{% endif %}

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
