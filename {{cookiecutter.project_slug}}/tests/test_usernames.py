"""Usernames no account can have: the same answers on every database, never a 5xx."""

import httpx
import pytest
from fastapi import FastAPI

from {{ cookiecutter.package_name }}.config import Settings

from conftest import add_user, login, make_settings

MAX_FAILURES = 2
# "\ufb03" (the ffi ligature) is one character that NFKC turns into three.
LIGATURE = "\ufb03"
IMPOSSIBLE_USERNAMES = {
    # PostgreSQL refuses NUL in text: looked up, it was a 503.
    "nul": "alice\0@example.com",
    # 15 characters, but 270 once normalised: registering it was a 503 on PostgreSQL (longer
    # than the column) and a 201 on SQLite, which stores anything.
    "nfkc-too-long": "\ufdfa" * 15,
    "nfkc-one-too-long": LIGATURE * 84 + "abc",
}


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
{%- if cookiecutter.allow_registration %}


@pytest.mark.parametrize("username", IMPOSSIBLE_USERNAMES.values(), ids=IMPOSSIBLE_USERNAMES.keys())
async def test_registering_an_impossible_username_is_a_422(
    client: httpx.AsyncClient, username: str
) -> None:
    response = await client.post(
        "/auth/register", json={"username": username, "password": "plum-orbit-kettle-42"}
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["type"] == "invalid_username"
{%- endif %}
