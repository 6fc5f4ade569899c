"""POST /auth/login with the OAuth2 password grant (RFC 6749 section 4.3); the refresh grant
and the error answers are in test_token_endpoint.py."""

from statistics import median
from time import process_time

import httpx
import jwt
import pytest
from argon2 import extract_parameters
from fastapi import FastAPI
from sqlalchemy import update

from {{ cookiecutter.package_name }}.security.passwords import PasswordHasher, unknown_user_hash
from {{ cookiecutter.package_name }}.users.models import User

from conftest import PASSWORD, add_user, login, make_settings, running


async def test_health_is_public(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_login_returns_a_token_pair(client: httpx.AsyncClient, user_id: str) -> None:
    response = await login(client)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in", "scope"}
    assert body["scope"] == "profile"
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == {{ cookiecutter.access_token_minutes }} * 60
    assert response.headers["cache-control"] == "no-store"
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sub"] == user_id
    assert claims["type"] == "access"


async def test_login_accepts_the_full_oauth2_form_swagger_sends(
    client: httpx.AsyncClient, user_id: str
) -> None:
    form = {
        "grant_type": "password",
        "username": "alice@example.com",
        "password": PASSWORD,
        "scope": "",
    }
    response = await client.post("/auth/login", data=form)
    assert response.status_code == 200


async def test_usernames_are_case_insensitive(client: httpx.AsyncClient, user_id: str) -> None:
    assert (await login(client, "ALICE@Example.COM")).status_code == 200


def _without_date(response: httpx.Response) -> dict[str, str]:
    return {name: value for name, value in response.headers.items() if name != "date"}


async def test_wrong_password_and_unknown_user_get_the_same_invalid_grant(
    client: httpx.AsyncClient, user_id: str
) -> None:
    wrong = await login(client, password="not the password")
    unknown = await login(client, username="nobody@example.com")
    # RFC 6749 section 5.2: invalid resource owner credentials are an invalid_grant.
    assert wrong.status_code == unknown.status_code == 400
    assert wrong.json() == {
        "error": "invalid_grant",
        "error_description": "Incorrect username or password",
    }
    assert wrong.json() == unknown.json()
    assert _without_date(wrong) == _without_date(unknown)


async def test_deactivated_user_cannot_log_in(
    app: FastAPI, client: httpx.AsyncClient, user_id: str
) -> None:
    async with app.state.services.sessionmaker() as db:
        await db.execute(update(User).values(is_active=False))
        await db.commit()
    response = await login(client)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    ("form", "description"),
    [
        ({"username": "alice@example.com"}, "Missing parameter: password"),
        ({"password": PASSWORD}, "Missing parameter: username"),
        ({"username": "", "password": PASSWORD}, "Missing parameter: username"),
        ({"username": "a" * 255, "password": PASSWORD}, "Parameter too long: username"),
        ({"username": "alice@example.com", "password": "p" * 1025}, "Parameter too long: password"),
    ],
    ids=["no-password", "no-username", "empty-username", "long-username", "long-password"],
)
async def test_malformed_password_grants_are_invalid_requests(
    client: httpx.AsyncClient, form: dict[str, str], description: str
) -> None:
    """RFC 6749 section 5.2, not FastAPI's 422: the answer a standard client can parse; it
    never repeats the input (a password typed into the username box)."""
    response = await client.post("/auth/login", data={"grant_type": "password"} | form)
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_request", "error_description": description}
    assert response.headers["cache-control"] == "no-store"


async def test_login_wants_a_form_not_json(client: httpx.AsyncClient, user_id: str) -> None:
    body = {"grant_type": "password", "username": "alice@example.com", "password": PASSWORD}
    response = await client.post("/auth/login", json=body)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


async def test_a_254_character_email_is_a_valid_username(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    username = "u" * 64 + "@" + "d" * 185 + ".com"
    assert len(username) == 254
    await add_user(app, username)
    assert (await login(client, username)).status_code == 200


async def test_the_unknown_user_hash_costs_what_a_real_hash_costs_and_matches_nothing() -> None:
    """It is written, not hashed (no argon2id run at start-up): its parameters and lengths
    must be a real hash's, which set the work a verify does, and no password may match it."""
    costs = {"time_cost": 2, "memory_kib": 1024, "parallelism": 2}
    hasher = PasswordHasher(**costs)
    dummy = unknown_user_hash(**costs)
    assert extract_parameters(dummy) == extract_parameters(await hasher.hash_async(""))
    assert dummy != unknown_user_hash(**costs)
    for password in ("", "password", dummy):
        assert await hasher.verify(password, dummy) == (False, None)


async def test_an_outdated_hash_does_not_make_a_known_username_faster(database_url: str) -> None:
    """After ARGON2_* are raised, a stored hash with the old, cheaper parameters must not
    answer a wrong password faster than an unknown username is answered: the time would tell
    which usernames exist until every user has logged in again."""
    async with running(make_settings(database_url)) as (app, _):
        await add_user(app, "alice@example.com")  # hashed with conftest's 1 pass, 1 MiB
    # About 40 times the old cost, so hashing outweighs the rest of a login: a known name
    # answered at its old cost would take about a third of an unknown one's time. Limits
    # high enough for this many failures of one name.
    raised = make_settings(
        database_url,
        argon2_time_cost=3,
        argon2_memory_kib=16384,
        login_max_failures=1000,
        login_max_failures_per_address=100000,
    )
    ratios = []
    async with running(raised) as (_, http):
        # The CPU time this process spends on each login (the hash runs on one of its
        # threads): what a login costs, and unlike the wall clock not stretched by whatever
        # else a shared machine runs. Each known-name login is paired with an unknown-name one
        # right after it, and the median of the pairs' ratios ignores the odd outlier.
        for _ in range(15):
            pair = []
            for username in ("alice@example.com", "nobody@example.com"):
                started = process_time()
                response = await login(http, username, "not the password")
                pair.append(process_time() - started)
                assert response.status_code == 400
            ratios.append(pair[0] / pair[1])
    assert 0.8 <= median(ratios) <= 1.2, sorted(round(ratio, 2) for ratio in ratios)
