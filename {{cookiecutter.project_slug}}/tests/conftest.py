"""Shared fixtures: a migrated database per test, the app, an HTTP client and a user.

Modules whose tests only send requests (the attack catalog, algorithm confusion) share one
app, database and login per module instead (`shared_login`): building them is most of what a
test costs, and those tests change nothing another one could see.

Tests run with the project's configured JWT algorithm; key files are made once per session,
by the same code as `keys generate`.

Every test also runs under `_no_secrets_in_logs`: all log records of every logger, at DEBUG,
are searched for the tokens issued during the test and for every known password.
"""

import logging
import os
import secrets
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock

import httpx
import jwt
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from fastapi import FastAPI

from {{ cookiecutter.package_name }}.auth.services import Services
from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.security import key_files
from {{ cookiecutter.package_name }}.security.keys import Key, hmac_key, load_private_key
from {{ cookiecutter.package_name }}.security.tokens import IssuedTokens, TokenService
from {{ cookiecutter.package_name }}.users import repository as users
from {{ cookiecutter.package_name }}.users.roles import Role

# The database's and the token store's fixtures, for the ones this project was generated with.
pytest_plugins = ["database_{{ cookiecutter.database }}", "store_{{ cookiecutter.token_store }}"]

# The suite never reads the developer's environment: a LOGIN_MAX_FAILURES or DATABASE_URL
# exported in the shell must not change what the tests see (they pass their own settings).
for _setting in Settings.model_fields:
    os.environ.pop(_setting.upper(), None)

SECRET_KEY = secrets.token_urlsafe(48)
PASSWORD = "correct horse battery staple"
ALGORITHM: str = Settings.model_fields["jwt_algorithm"].default
ASYMMETRIC_ALGORITHMS = ("EdDSA", "ES256", "RS256")

_key_directory: list[Path] = []


@pytest.fixture(scope="session", autouse=True)
def _session_key_directory(tmp_path_factory: pytest.TempPathFactory) -> None:
    _key_directory.append(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="session", autouse=True)
def _load_each_private_key_once() -> Iterator[None]:
    """Loading an RSA private key checks its primes: about 60 ms for 2048 bits. The suite loads
    the same few key files hundreds of times (every app start, reload and rotation), which
    was a fifth of an RS256 project's test run. The same bytes give the same key, so each
    one is loaded and checked once; a file that fails to load is not remembered and fails
    again, and a file that changes has new bytes."""
    load = serialization.load_pem_private_key
    loaded: dict[tuple[bytes, bytes | None], PrivateKeyTypes] = {}

    def load_once(
        data: bytes, password: bytes | None = None, *args: Any, **kwargs: Any
    ) -> PrivateKeyTypes:
        if args or kwargs:
            return load(data, password, *args, **kwargs)
        if (data, password) not in loaded:
            loaded[data, password] = load(data, password)
        return loaded[data, password]

    with mock.patch.object(serialization, "load_pem_private_key", load_once):
        yield


@cache
def key_file(algorithm: str, name: str = "app") -> Path:
    """A private key file for `algorithm`, made once per session. RSA keys are 2048-bit, the
    least we accept: they generate and load several times faster than the 3072-bit keys of
    `keys generate`, and nothing under test depends on the size."""
    path = _key_directory[0] / algorithm / f"{name}.pem"
    with mock.patch.object(key_files, "RSA_BITS", 2048):
        key_files.write_key_file(path, key_files.generate_private_key(algorithm))
    return path


@cache
def foreign_key(algorithm: str) -> Key:
    """A key of the app's own type that the app has never seen: an attacker's key. Loaded
    once: loading checks an RSA key's consistency, which takes a tenth of a second."""
    if algorithm == "HS256":
        return hmac_key(b"another-secret-that-is-long-enough-0123456789")
    return load_private_key(key_file(algorithm, "foreign"), algorithm)


# Secrets that must never be logged: the signing key and every password a test uses (the
# helpers below add theirs; tests with their own passwords add them too).
KNOWN_SECRETS: set[str] = {SECRET_KEY, PASSWORD}
# The test's own HTTP client logs request URLs; those are not the service's logs, and attack
# tests deliberately put tokens in URLs.
_CLIENT_LOGGERS = frozenset({"httpx", "httpcore"})


def find_leaks(records: Iterable[logging.LogRecord], secrets_: Iterable[str]) -> list[str]:
    """Descriptions of the records whose text, arguments, extra fields or traceback hold a
    secret (the secret itself is not repeated)."""
    formatter = logging.Formatter()
    # Test passwords like "x" would match any line; real tokens and passwords are longer.
    wanted = [secret for secret in secrets_ if len(secret) >= 8]
    leaks = []
    for record in records:
        if record.name.partition(".")[0] in _CLIENT_LOGGERS:
            continue
        text = formatter.format(record) + repr(vars(record))
        if any(secret in text for secret in wanted):
            leaks.append(f"{record.name} {record.levelname}: {record.msg!s:.80}")
    return leaks


@pytest.fixture(autouse=True)
def _no_secrets_in_logs(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Capture every logger at DEBUG (SQLAlchemy, uvicorn, ours) and fail the test if a token
    issued during it, the signing key or a known password appears in any record."""
    caplog.set_level(logging.DEBUG)
    # SQLAlchemy sets its own loggers to WARNING on import; open them up like echo=True would.
    caplog.set_level(logging.DEBUG, logger="sqlalchemy")
    issued: list[str] = []
    issue = TokenService.issue

    def recording_issue(self: TokenService, *args: Any, **kwargs: Any) -> IssuedTokens:
        tokens = issue(self, *args, **kwargs)
        issued.extend((tokens.access_token, tokens.refresh_token))
        return tokens

    monkeypatch.setattr(TokenService, "issue", recording_issue)
    yield
    records = [r for when in ("setup", "call", "teardown") for r in caplog.get_records(when)]
    leaks = find_leaks(records, [*issued, *KNOWN_SECRETS])
    assert not leaks, f"secrets in log records: {leaks}"


def _store() -> ModuleType:
    """The token store's plugin module, imported once pytest has loaded it as a plugin (an
    import at the top of this file would come first, and pytest could not rewrite its
    asserts)."""
    return sys.modules["store_{{ cookiecutter.token_store }}"]


def make_settings(database_url: str, **overrides: object) -> Settings:
    """Test settings: never read the developer's .env; cheap hashing; fast revocation sync."""
    values: dict[str, object] = {
        "secret_key": SECRET_KEY,
        "jwt_algorithm": ALGORITHM,
        "database_url": database_url,
        "argon2_time_cost": 1,
        "argon2_memory_kib": 1024,
        "argon2_parallelism": 1,
    }
    values.update(_store().STORE_SETTINGS)
    values.update(overrides)
    if values["jwt_algorithm"] != "HS256":
        values.setdefault("private_key_path", key_file(str(values["jwt_algorithm"])))
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


def services_of(application: FastAPI) -> Services:
    """The app's services (what routes get through auth/dependencies.py)."""
    services: Services = application.state.services
    return services


def client_for(application: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://test")


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as http:
        yield http


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """An app built from `settings`, started, with a client; stopped on the way out."""
    application = create_app(settings)
    async with application.router.lifespan_context(application), client_for(application) as http:
        yield application, http


async def add_user(
    app: FastAPI, username: str, password: str = PASSWORD, role: Role = Role.USER
) -> str:
    """Create a user straight in the database; returns its id."""
    KNOWN_SECRETS.add(password)
    password_hash = await services_of(app).passwords.hash_async(password)
    async with services_of(app).sessionmaker() as db:
        user = await users.create(db, username, password_hash, role)
    return str(user.id)


@pytest.fixture
async def user_id(app: FastAPI) -> str:
    return await add_user(app, "alice@example.com")


async def login(
    client: httpx.AsyncClient,
    username: str = "alice@example.com",
    password: str = PASSWORD,
    **form: str,
) -> httpx.Response:
    """The password grant; `form` adds parameters (`scope`)."""
    KNOWN_SECRETS.add(password)
    form |= {"grant_type": "password", "username": username, "password": password}
    return await client.post("/auth/login", data=form)


@pytest.fixture
async def tokens(client: httpx.AsyncClient, user_id: str) -> dict[str, str]:
    response = await login(client)
    assert response.status_code == 200, response.text
    return response.json()


@dataclass(frozen=True)
class SharedLogin:
    """One started app, its client, and one user's genuine login, shared by a module."""

    app: FastAPI
    http: httpx.AsyncClient
    user_id: str
    tokens: dict[str, str]


def shared_settings(database_url: str, **overrides: object) -> Settings:
    """Test settings for an app shared by a module (see `shared_login`)."""
    return make_settings(database_url, **(_store().SHARED_STORE_SETTINGS | overrides))


@asynccontextmanager
async def logged_in(
    settings: Settings, username: str = "alice@example.com"
) -> AsyncIterator[SharedLogin]:
    """A started app with one user logged in. Its tokens join KNOWN_SECRETS, so the log check
    of every test that shares them still looks for them."""
    async with running(settings) as (application, http):
        user_id = await add_user(application, username)
        response = await login(http, username)
        assert response.status_code == 200, response.text
        tokens = response.json()
        KNOWN_SECRETS.update((tokens["access_token"], tokens["refresh_token"]))
        yield SharedLogin(application, http, user_id, tokens)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_login(module_database_url: str) -> AsyncIterator[SharedLogin]:
    """The module's shared app and login. Tests using it must run on the module's event loop:
    `pytestmark = pytest.mark.asyncio(loop_scope="module")`."""
    async with logged_in(shared_settings(module_database_url)) as shared:
        yield shared


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def access_claims(user_id: str, **changes: object) -> dict[str, object]:
    """Claims of a valid access token for `user_id`; a change to None drops that claim."""
    now = int(time.time())
    claims: dict[str, object] = {
        "iss": "{{ cookiecutter.package_name }}",
        "aud": "{{ cookiecutter.package_name }}",
        "sub": user_id,
        "sid": uuid.uuid4().hex,
        "jti": uuid.uuid4().hex,
        "type": "access",
        "iat": now,
        "exp": now + 300,
        "auth_time": now,
        "scope": "profile",
    }
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


def sign(
    app: FastAPI, claims: dict[str, object], *, key: Key | None = None, **header: object
) -> str:
    """A token signed the way the app signs (its current key, algorithm and kid) unless the
    test passes another key or header members; a header member set to None is left out."""
    key = key or services_of(app).keys.current
    headers = {
        name: value for name, value in ({"kid": key.kid} | header).items() if value is not None
    }
    return jwt.encode(claims, key.signing_key, algorithm=key.algorithm, headers=headers)


def session_id(tokens: dict[str, str]) -> str:
    """The session (`sid`) a token pair belongs to."""
    sid: str = jwt.decode(tokens["access_token"], options={"verify_signature": False})["sid"]
    return sid


async def refresh(client: httpx.AsyncClient, tokens: dict[str, str]) -> httpx.Response:
    return await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})


def old_login_token(app: FastAPI, user_id: str, tokens: dict[str, str]) -> str:
    """An access token of the same session whose login was an hour ago: too old for what
    needs a recent login (FRESH_AUTH_MINUTES)."""
    an_hour_ago = int(time.time()) - 3600
    return sign(app, access_claims(user_id, sid=session_id(tokens), auth_time=an_hour_ago))
