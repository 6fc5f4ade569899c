"""Audit events, and the guarantee that no token or password reaches any log record."""

import json
import logging
import sys

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.db import create_engine
from {{ cookiecutter.package_name }}.logs import DropQueryString, JsonFormatter, TextFormatter
from {{ cookiecutter.package_name }}.users import repository as users

from conftest import PASSWORD, bearer, find_leaks, login, make_settings

AUDIT_LOGGER = "{{ cookiecutter.package_name }}.audit"


def _events(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == AUDIT_LOGGER]


def _event(caplog: pytest.LogCaptureFixture, name: str) -> logging.LogRecord:
    matches = [record for record in _events(caplog) if record.event == name]  # type: ignore[attr-defined]
    assert len(matches) == 1, [r.getMessage() for r in _events(caplog)]
    return matches[0]


async def test_login_success_names_user_session_and_address(
    caplog: pytest.LogCaptureFixture, app: FastAPI, client: httpx.AsyncClient, user_id: str
) -> None:
    response = await login(client)
    record = _event(caplog, "login_succeeded")
    assert record.levelno == logging.INFO
    assert record.user_id == user_id  # type: ignore[attr-defined]
    assert record.client == "127.0.0.1"  # type: ignore[attr-defined]
    claims = app.state.services.tokens.verify_access(response.json()["access_token"])
    assert record.session_id == claims.session_id  # type: ignore[attr-defined]


async def test_failed_logins_say_why_without_naming_the_username(
    caplog: pytest.LogCaptureFixture, client: httpx.AsyncClient, user_id: str
) -> None:
    await login(client, password="wrong password")
    await login(client, "nobody@example.com", "wrong password")
    known, unknown = [r for r in _events(caplog) if r.event == "login_failed"]  # type: ignore[attr-defined]
    assert (known.user_id, known.reason) == (user_id, "bad_password")  # type: ignore[attr-defined]
    assert (unknown.user_id, unknown.reason) == (None, "unknown_user")  # type: ignore[attr-defined]
    for record in (known, unknown):
        assert "example.com" not in repr(vars(record))


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, login_max_failures=1)


async def test_throttled_login_is_a_warning(
    caplog: pytest.LogCaptureFixture, client: httpx.AsyncClient, user_id: str
) -> None:
    await login(client, password="wrong password")
    assert (await login(client)).status_code == 429
    record = _event(caplog, "login_throttled")
    assert record.levelno == logging.WARNING
    assert record.reason == "account"  # type: ignore[attr-defined]
    assert record.client == "127.0.0.1"  # type: ignore[attr-defined]


async def test_refresh_and_reuse_are_audited(
    caplog: pytest.LogCaptureFixture,
    client: httpx.AsyncClient,
    user_id: str,
    tokens: dict[str, str],
) -> None:
    refresh = {"refresh_token": tokens["refresh_token"]}
    assert (await client.post("/auth/refresh", json=refresh)).status_code == 200
    assert (await client.post("/auth/refresh", json=refresh)).status_code == 401
    assert _event(caplog, "token_refreshed").user_id == user_id  # type: ignore[attr-defined]
    reused = _event(caplog, "refresh_token_reused")
    assert reused.levelno == logging.WARNING
    assert reused.user_id == user_id  # type: ignore[attr-defined]


async def test_logout_and_logout_all_are_audited(
    caplog: pytest.LogCaptureFixture, client: httpx.AsyncClient, user_id: str
) -> None:
    first = (await login(client)).json()
    second = (await login(client)).json()
    await client.post("/auth/logout", headers=bearer(first["access_token"]))
    await client.post("/auth/logout-all", headers=bearer(second["access_token"]))
    assert _event(caplog, "logout").user_id == user_id  # type: ignore[attr-defined]
    revoked = _event(caplog, "sessions_revoked")
    assert (revoked.user_id, revoked.reason) == (user_id, "logout_all")  # type: ignore[attr-defined]


def _audit_record() -> logging.LogRecord:
    record = logging.LogRecord(AUDIT_LOGGER, logging.INFO, __file__, 1, "logout", None, None)
    record.__dict__.update(event="logout", user_id="u-1", session_id="s-1", client="10.0.0.1")
    return record


def test_json_log_lines_carry_the_fields() -> None:
    entry = json.loads(JsonFormatter().format(_audit_record()))
    assert entry["message"] == "logout"
    assert entry["logger"] == AUDIT_LOGGER
    assert (entry["user_id"], entry["session_id"], entry["client"]) == ("u-1", "s-1", "10.0.0.1")


def test_text_log_lines_carry_the_fields() -> None:
    line = TextFormatter().format(_audit_record())
    assert line.endswith("logout event=logout user_id=u-1 session_id=s-1 client=10.0.0.1")


def test_access_log_lines_lose_their_query_string() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/protected?access_token=eyJsecret", "1.1", 401),
        None,
    )
    assert DropQueryString().filter(record)
    assert record.getMessage() == '127.0.0.1:5000 - "GET /protected HTTP/1.1" 401'


async def test_sql_statement_logs_never_show_parameters(
    caplog: pytest.LogCaptureFixture, app: FastAPI, client: httpx.AsyncClient, user_id: str
) -> None:
    """What echo=True prints (statements, INFO) hides bound values such as password hashes.
    Result rows appear only at DEBUG (echo="debug"), a deliberate developer's choice."""
    await login(client)
    statements = [
        record
        for record in caplog.records
        if record.name.startswith("sqlalchemy.engine") and record.levelno >= logging.INFO
    ]
    assert any("FROM users" in r.getMessage() for r in statements)
    async with app.state.services.sessionmaker() as db:
        user = await users.get_by_id(db, user_id)
    assert user is not None
    assert not find_leaks(statements, [user.password_hash, user_id.replace("-", "")])


async def test_database_errors_do_not_carry_parameters(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            with pytest.raises(SQLAlchemyError) as caught:
                await connection.execute(
                    text("INSERT INTO no_such_table VALUES (:password)"), {"password": PASSWORD}
                )
    finally:
        await engine.dispose()
    assert PASSWORD not in str(caught.value)


def _record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("app", logging.INFO, __file__, 1, message, args or None, None)
    record.__dict__.update(extra)
    return record


@pytest.mark.parametrize(
    "record",
    [
        _record("token eyJhbGciOi.secret-token-value.sig"),
        _record("token %s", "eyJhbGciOi.secret-token-value.sig"),
        _record("refreshed", token="eyJhbGciOi.secret-token-value.sig"),
    ],
    ids=["message", "argument", "extra-field"],
)
def test_the_leak_check_finds_secrets_anywhere_in_a_record(record: logging.LogRecord) -> None:
    assert find_leaks([record], ["secret-token-value"])
    assert not find_leaks([record], ["another-secret"])


def test_the_leak_check_finds_secrets_in_tracebacks() -> None:
    try:
        raise ValueError("bad password hunter2-hunter2")
    except ValueError:
        record = logging.LogRecord(
            "app", logging.ERROR, __file__, 1, "failed", None, sys.exc_info()
        )
    assert find_leaks([record], ["hunter2-hunter2"])
