"""Usernames no account can have: the same answers on every database, never a 5xx."""

import httpx
import pytest
from fastapi import FastAPI

from {{ cookiecutter.package_name }}.config import Settings

from conftest import add_user, login, make_settings
from hostile_input import IMPOSSIBLE_USERNAMES, LIGATURE

MAX_FAILURES = 2


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, login_max_failures=MAX_FAILURES)


def _failures(caplog: pytest.LogCaptureFixture) -> list[str | None]:
    return [
        getattr(record, "reason", None)
        for record in caplog.records
        if getattr(record, "event", None) == "login_failed"
    ]


@pytest.mark.parametrize("username", IMPOSSIBLE_USERNAMES.values(), ids=IMPOSSIBLE_USERNAMES.keys())
async def test_an_impossible_username_logs_in_like_an_unknown_one(
    caplog: pytest.LogCaptureFixture, client: httpx.AsyncClient, username: str
) -> None:
    unknown = await login(client, "nobody@example.com", "wrong password")
    impossible = await login(client, username, "wrong password")
    assert impossible.status_code == unknown.status_code == 400
    assert impossible.json() == unknown.json()
    assert impossible.headers.get("www-authenticate") == unknown.headers.get("www-authenticate")
    assert _failures(caplog) == ["unknown_user", "unknown_user"]


async def test_an_impossible_username_is_throttled_like_any_other(
    client: httpx.AsyncClient,
) -> None:
    username = IMPOSSIBLE_USERNAMES["nul"]
    statuses = [(await login(client, username, "wrong")).status_code for _ in range(3)]
    assert statuses == [400] * MAX_FAILURES + [429]


async def test_the_longest_normalised_username_works(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    username = LIGATURE * 84 + "ab"  # 254 characters once normalised: the limit
    await add_user(app, username)
    assert (await login(client, username)).status_code == 200
