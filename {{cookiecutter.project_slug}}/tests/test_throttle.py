"""Login throttling: failures per account, identical for unknown accounts."""

import httpx
import pytest
from fastapi import FastAPI

from {{ cookiecutter.package_name }}.config import Settings

from conftest import login, make_settings

MAX_FAILURES = 3


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(
        database_url, login_max_failures=MAX_FAILURES, login_failure_window_seconds=600
    )


async def _fail_until_throttled(client: httpx.AsyncClient, username: str) -> None:
    for _ in range(MAX_FAILURES):
        assert (await login(client, username, "wrong password")).status_code == 400


async def test_repeated_failures_get_429_with_retry_after(
    client: httpx.AsyncClient, user_id: str
) -> None:
    await _fail_until_throttled(client, "alice@example.com")
    response = await login(client, password="wrong password")
    assert response.status_code == 429
    assert 0 < int(response.headers["retry-after"]) <= 600


async def test_the_right_password_during_a_lockout_yields_nothing(
    client: httpx.AsyncClient, user_id: str
) -> None:
    await _fail_until_throttled(client, "alice@example.com")
    response = await login(client)
    assert response.status_code == 429
    assert "access_token" not in response.text


async def test_unknown_usernames_are_throttled_identically(
    client: httpx.AsyncClient, user_id: str
) -> None:
    await _fail_until_throttled(client, "alice@example.com")
    await _fail_until_throttled(client, "nobody@example.com")
    known = await login(client, "alice@example.com", "wrong password")
    unknown = await login(client, "nobody@example.com", "wrong password")
    assert known.status_code == unknown.status_code == 429
    assert known.json() == unknown.json()


async def test_changing_x_forwarded_for_does_not_reset_the_count(
    client: httpx.AsyncClient, user_id: str
) -> None:
    for i in range(MAX_FAILURES):
        headers = {"X-Forwarded-For": f"203.0.113.{i}"}
        response = await client.post(
            "/auth/login",
            data={"grant_type": "password", "username": "alice@example.com", "password": "x"},
            headers=headers,
        )
        assert response.status_code == 400
    response = await client.post(
        "/auth/login",
        data={"grant_type": "password", "username": "alice@example.com", "password": "x"},
        headers={"X-Forwarded-For": "198.51.100.7"},
    )
    assert response.status_code == 429


async def test_letter_case_does_not_dodge_the_throttle(
    client: httpx.AsyncClient, user_id: str
) -> None:
    await _fail_until_throttled(client, "alice@example.com")
    assert (await login(client, "ALICE@EXAMPLE.COM", "wrong password")).status_code == 429


async def test_other_accounts_are_not_affected(
    app: FastAPI, client: httpx.AsyncClient, user_id: str
) -> None:
    from conftest import add_user

    await add_user(app, "bob")
    await _fail_until_throttled(client, "alice@example.com")
    assert (await login(client, "bob")).status_code == 200
