"""POST /users/me/password: the caller changes their password; their other sessions end."""

import asyncio
import logging
import time

import httpx
import pytest
from fastapi import FastAPI

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.security.passwords import MAX_PASSWORD_LENGTH

from conftest import (
    KNOWN_SECRETS,
    PASSWORD,
    access_claims,
    bearer,
    client_for,
    login,
    make_settings,
    old_login_token,
    refresh,
    session_id,
    sign,
)

NEW_PASSWORD = "a brand new passphrase 42"
THIRD_PASSWORD = "yet another fresh phrase 9"
KNOWN_SECRETS.update((NEW_PASSWORD, THIRD_PASSWORD))
MAX_FAILURES = 3


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, login_max_failures=MAX_FAILURES)


async def change(
    client: httpx.AsyncClient,
    tokens: dict[str, str],
    current: str = PASSWORD,
    new: str = NEW_PASSWORD,
) -> httpx.Response:
    body = {"current_password": current, "new_password": new}
    response = await client.post(
        "/users/me/password", headers=bearer(tokens["access_token"]), json=body
    )
    # Whatever the answer, it never repeats a password.
    for password in (current, new):
        assert password not in response.text
    return response


async def two_sessions(client: httpx.AsyncClient) -> tuple[dict[str, str], dict[str, str]]:
    first, second = await login(client), await login(client)
    assert first.status_code == second.status_code == 200
    return first.json(), second.json()


async def test_a_change_ends_the_other_sessions_and_keeps_the_calling_one(
    client: httpx.AsyncClient, user_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    this, other = await two_sessions(client)
    response = await change(client, this)
    assert response.status_code == 204
    assert (await refresh(client, other)).status_code == 401
    # This worker refuses the other session's access tokens at once.
    assert (await client.get("/users/me", headers=bearer(other["access_token"]))).status_code == 401
    # The calling session goes on: its access token, then its refresh token, twice over.
    assert (await client.get("/users/me", headers=bearer(this["access_token"]))).is_success
    renewed = await refresh(client, this)
    assert renewed.status_code == 200
    assert (await refresh(client, renewed.json())).status_code == 200
    assert (await login(client, password=PASSWORD)).status_code == 400
    assert (await login(client, password=NEW_PASSWORD)).status_code == 200
    (record,) = [r for r in caplog.records if getattr(r, "event", None) == "password_changed"]
    assert record.user_id == user_id  # type: ignore[attr-defined]
    assert record.session_id == session_id(this)  # type: ignore[attr-defined]


async def test_the_other_sessions_end_in_every_worker(
    settings: Settings, client: httpx.AsyncClient, user_id: str
) -> None:
    this, other = await two_sessions(client)
    other_worker = create_app(settings)
    async with (
        other_worker.router.lifespan_context(other_worker),
        client_for(other_worker) as elsewhere,
    ):
        headers = bearer(other["access_token"])
        assert (await elsewhere.get("/protected", headers=headers)).status_code == 200
        assert (await change(client, this)).status_code == 204
        deadline = time.monotonic() + 1.0
        while (await elsewhere.get("/protected", headers=headers)).status_code == 200:
            assert time.monotonic() < deadline, "the change did not reach the other worker in 1 s"
            await asyncio.sleep(0.02)
        kept = await elsewhere.get("/protected", headers=bearer(this["access_token"]))
        assert kept.status_code == 200


async def test_a_wrong_current_password_is_a_400_that_changes_nothing(
    client: httpx.AsyncClient, user_id: str
) -> None:
    this, other = await two_sessions(client)
    response = await change(client, this, current="not my password at all")
    assert response.status_code == 400
    assert response.json() == {"detail": "Current password is incorrect"}
    # The token is fine: no challenge that would make a client drop it.
    assert "www-authenticate" not in response.headers
    assert (await refresh(client, other)).status_code == 200
    assert (await login(client, password=PASSWORD)).status_code == 200


async def test_wrong_current_passwords_are_throttled_like_logins(
    client: httpx.AsyncClient, user_id: str
) -> None:
    this = (await login(client)).json()
    for number in range(MAX_FAILURES):
        assert (await change(client, this, current=f"wrong guess {number}")).status_code == 400
    throttled = await change(client, this)
    assert throttled.status_code == 429
    assert throttled.headers["retry-after"].isdigit()
    # One budget for both doors: the login is locked too, and the password is unchanged.
    assert (await login(client)).status_code == 429
    assert (await login(client, password=NEW_PASSWORD)).status_code == 429


async def test_a_success_gives_its_throttle_slot_back(
    client: httpx.AsyncClient, user_id: str
) -> None:
    this = (await login(client)).json()
    for number in range(MAX_FAILURES - 1):
        assert (await change(client, this, current=f"wrong guess {number}")).status_code == 400
    assert (await change(client, this)).status_code == 204
    # The failures still count, but the success gave its own slot back: with one slot left,
    # the next change (and then a login) is still let through.
    assert (await change(client, this, current=NEW_PASSWORD, new=THIRD_PASSWORD)).status_code == 204
    assert (await login(client, password=THIRD_PASSWORD)).status_code == 200


@pytest.mark.parametrize(
    ("new", "rule"),
    [
        ("short 1", "password_too_short"),
        ("password1234", "password_too_common"),
        ("alice@example.com is me", "password_contains_username"),
        ("abababababababab", "password_repetitive"),
    ],
)
async def test_a_new_password_the_policy_refuses_is_a_422_naming_the_rule(
    client: httpx.AsyncClient, user_id: str, new: str, rule: str
) -> None:
    KNOWN_SECRETS.add(new)
    this, other = await two_sessions(client)
    response = await change(client, this, new=new)
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["type"] == rule
    assert error["loc"] == ["body", "new_password"]
    assert (await refresh(client, other)).status_code == 200
    assert (await login(client, password=PASSWORD)).status_code == 200


async def test_malformed_bodies_are_refused_without_echo(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    too_long = "x" * (MAX_PASSWORD_LENGTH + 1)
    assert (await change(client, tokens, new=too_long)).status_code == 422
    assert (await change(client, tokens, current=too_long)).status_code == 422
    extra = {"current_password": PASSWORD, "new_password": NEW_PASSWORD, "is_active": True}
    response = await client.post(
        "/users/me/password", headers=bearer(tokens["access_token"]), json=extra
    )
    assert response.status_code == 422
    assert PASSWORD not in response.text
    assert (await login(client)).status_code == 200


async def test_a_change_needs_a_recent_login(
    app: FastAPI, client: httpx.AsyncClient, user_id: str, tokens: dict[str, str]
) -> None:
    old = {"access_token": old_login_token(app, user_id, tokens)}
    response = await change(client, old)
    assert response.status_code == 401
    assert 'error="insufficient_user_authentication"' in response.headers["www-authenticate"]
    assert (await login(client)).status_code == 200


async def test_a_change_needs_the_profile_scope(
    app: FastAPI, client: httpx.AsyncClient, user_id: str, tokens: dict[str, str]
) -> None:
    unscoped = {"access_token": sign(app, access_claims(user_id, scope=None))}
    response = await change(client, unscoped)
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    assert (await change(client, {"access_token": "not a token"})).status_code == 401
    assert (await login(client)).status_code == 200


async def test_no_log_record_holds_either_password(
    client: httpx.AsyncClient, tokens: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await change(client, tokens, current="a wrong one, logged nowhere")
    await change(client, tokens)
    text = "\n".join(f"{record.getMessage()} {vars(record)}" for record in caplog.records)
    for password in (PASSWORD, NEW_PASSWORD, "a wrong one, logged nowhere"):
        assert password not in text
