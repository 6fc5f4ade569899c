"""POST /auth/register: password policy, duplicates, throttling, and what the response shows."""

import asyncio
import time
from unittest import mock

import httpx
import pytest
from fastapi import FastAPI

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.security.passwords import PasswordHasher
from {{ cookiecutter.package_name }}.users import repository as users
from {{ cookiecutter.package_name }}.users.password_policy import common_passwords

from conftest import KNOWN_SECRETS, add_user, bearer, client_for, login, make_settings
from hostile_input import (
    IMPOSSIBLE_USERNAMES,
    SECRET,
    Send,
    assert_refused_silently,
    json_request,
    raw_request,
)

MAX_FAILURES = 3
MAX_PER_ADDRESS = 6
GOOD_PASSWORD = "plum-orbit-kettle-42"
# The service's name as a password would hold it (NIST SP 800-63B: a context-specific word).
SERVICE_WORD = "{{ cookiecutter.package_name }}".replace("_", "")


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(
        database_url,
        login_max_failures=MAX_FAILURES,
        login_failure_window_seconds=600,
        registration_max_per_address=MAX_PER_ADDRESS,
        registration_window_seconds=600,
    )


async def _register(
    client: httpx.AsyncClient, username: str = "carol@example.com", password: str = GOOD_PASSWORD
) -> httpx.Response:
    KNOWN_SECRETS.add(password)
    return await client.post("/auth/register", json={"username": username, "password": password})


def _rule(response: httpx.Response) -> str:
    assert response.status_code == 422, response.text
    return response.json()["detail"][0]["type"]


async def test_registering_returns_the_public_user_who_can_then_log_in(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    response = await _register(client)
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"id", "username", "is_active", "created_at"}
    assert body["username"] == "carol@example.com"
    assert body["is_active"] is True
    assert GOOD_PASSWORD not in response.text

    tokens = (await login(client, "carol@example.com", GOOD_PASSWORD)).json()
    me = await client.get("/users/me", headers=bearer(tokens["access_token"]))
    assert me.json()["id"] == body["id"]
    async with app.state.services.sessionmaker() as db:
        user = await users.get_by_username(db, "carol@example.com")
    assert user is not None
    assert user.password_hash.startswith("$argon2id$")


@pytest.mark.parametrize(
    ("username", "password", "rule"),
    [
        ("carol", "a" * 10 + "B", "password_too_short"),
        ("carol", "Plum-Orbit1", "password_too_short"),
        ("Carol.Smith", "carol.smith-plum-orbit", "password_contains_username"),
        ("dave", "ORBIT-DAVE-KETTLE", "password_contains_username"),
        ("erin@example.com", "erin-plum-orbit-kettle", "password_contains_username"),
        ("frankly-long-name", "FRANKLY-LONG-NAME", "password_contains_username"),
        ("gina", "password1234", "password_too_common"),
        ("gina", "P@ssw0rd2024!!", "password_too_common"),
        ("gina", "qwertyuiop123", "password_too_common"),
        ("gina", "correct horse battery staple", "password_too_common"),
        ("gina", "1qaz2wsx3edc4rfv", "password_too_common"),
        ("gina", "123456789012", "password_too_common"),
        ("gina", "!!Sunshine2024", "password_too_common"),
        ("gina", "manchesterunited", "password_too_common"),
        ("gina", " " * 12, "password_blank"),
        ("gina", "\u3000" * 12, "password_blank"),  # ideographic spaces
        pytest.param(
            "gina",
            f"{SERVICE_WORD.upper()}-plum-42",
            "password_contains_service_name",
            marks=pytest.mark.skipif(len(SERVICE_WORD) < 4, reason="too short to search for"),
        ),
        ("gina", "aaaaaaaaaaaa", "password_repetitive"),
        ("gina", "!!!!!!!!!!!!", "password_repetitive"),
        ("gina", "qwertyuiopasdfgh", "password_repetitive"),
        ("gina", "123456789abc", "password_repetitive"),
        ("gina", "abc123abc123", "password_repetitive"),
        ("   ", GOOD_PASSWORD, "invalid_username"),
        (" gina", GOOD_PASSWORD, "invalid_username"),
        ("gi\nna", GOOD_PASSWORD, "invalid_username"),
    ],
)
async def test_a_refused_password_or_username_says_which_rule_failed(
    client: httpx.AsyncClient, username: str, password: str, rule: str
) -> None:
    response = await _register(client, username, password)
    assert _rule(response) == rule
    assert response.json()["detail"][0]["msg"]
    assert password not in response.text


async def test_a_short_username_only_counts_as_the_whole_password(
    client: httpx.AsyncClient,
) -> None:
    """'al' inside a password is a coincidence, not a leak of the username."""
    assert (await _register(client, "al", "royal-plum-kettle")).status_code == 201


@pytest.mark.parametrize("password", ["x" * 1025, ""])
async def test_the_request_schema_bounds_the_password(
    client: httpx.AsyncClient, password: str
) -> None:
    response = await _register(client, password=password)
    assert _rule(response) in {"string_too_long", "string_too_short"}


async def test_the_minimum_length_is_a_setting(database_url: str) -> None:
    strict = make_settings(database_url, password_min_length=24)
    application = create_app(strict)
    async with application.router.lifespan_context(application), client_for(application) as http:
        assert _rule(await _register(http, password=GOOD_PASSWORD)) == "password_too_short"
        long_enough = GOOD_PASSWORD + "-longer"
        assert (await _register(http, password=long_enough)).status_code == 201


async def test_the_schema_states_the_configured_minimum(database_url: str) -> None:
    for minimum in (12, 24):
        application = create_app(make_settings(database_url, password_min_length=minimum))
        async with client_for(application) as http:
            document = (await http.get("/openapi.json")).json()
        body = document["paths"]["/auth/register"]["post"]["requestBody"]["content"]
        schema = body["application/json"]["schema"]
        if "$ref" in schema:
            schema = document["components"]["schemas"][schema["$ref"].rpartition("/")[2]]
        assert schema["properties"]["password"]["minLength"] == minimum


def test_a_minimum_below_eight_is_refused(database_url: str) -> None:
    with pytest.raises(ValueError, match="password_min_length"):
        make_settings(database_url, password_min_length=6)


async def test_the_caller_cannot_set_other_user_fields(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/auth/register",
        json={"username": "mallory", "password": GOOD_PASSWORD, "is_active": False, "id": 1},
    )
    assert response.status_code == 422
    assert (await login(client, "mallory", GOOD_PASSWORD)).status_code == 400


@pytest.mark.parametrize(
    "duplicate",
    ["alice@example.com", "ALICE@example.COM", "\uff41\uff4c\uff49\uff43\uff45@example.com"],
)
async def test_a_taken_username_in_any_form_is_409_and_the_account_is_untouched(
    client: httpx.AsyncClient, user_id: str, duplicate: str
) -> None:
    response = await _register(client, duplicate, GOOD_PASSWORD)
    assert response.status_code == 409
    assert response.json() == {"detail": "Username is not available"}
    assert (await login(client)).status_code == 200
    assert (await login(client, "alice@example.com", GOOD_PASSWORD)).status_code == 400


async def test_repeated_refusals_for_one_username_are_throttled(client: httpx.AsyncClient) -> None:
    for _ in range(MAX_FAILURES):
        assert (await _register(client, "henry", "short")).status_code == 422
    response = await _register(client, "HENRY", GOOD_PASSWORD)
    assert response.status_code == 429
    assert 0 < int(response.headers["retry-after"]) <= 600
    # Other usernames are not affected.
    assert (await _register(client, "ivy", GOOD_PASSWORD)).status_code == 201


async def test_probing_a_taken_username_is_throttled(
    client: httpx.AsyncClient, user_id: str
) -> None:
    for _ in range(MAX_FAILURES):
        assert (await _register(client, "alice@example.com")).status_code == 409
    assert (await _register(client, "alice@example.com")).status_code == 429


async def test_registration_shares_the_login_throttle(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Failed logins and refused registrations for one name draw on one budget, so neither
    endpoint adds guesses to the other."""
    await add_user(app, "judy")
    for _ in range(MAX_FAILURES - 1):
        assert (await login(client, "judy", "wrong password")).status_code == 400
    assert (await _register(client, "judy")).status_code == 409
    assert (await login(client, "judy")).status_code == 429


async def test_every_registration_counts_against_the_address(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Successful sign-ups cost a hash and create an account: they count like refused ones."""
    for number in range(MAX_PER_ADDRESS):
        assert (await _register(client, f"user{number}")).status_code == 201
    response = await _register(client, "one-more")
    assert response.status_code == 429
    assert 0 < int(response.headers["retry-after"]) <= 600
    # Another address is not affected.
    other = httpx.ASGITransport(app=app, client=("198.51.100.4", 4711))
    async with httpx.AsyncClient(transport=other, base_url="http://test") as elsewhere:
        assert (await _register(elsewhere, "one-more")).status_code == 201


async def test_parallel_registrations_cannot_outrun_the_address_limit(
    client: httpx.AsyncClient,
) -> None:
    """All of them in flight at once, held at the password hash: the slots were taken first."""
    release = asyncio.Event()
    hashed = 0
    hash_async = PasswordHasher.hash_async

    async def held_hash(self: PasswordHasher, password: str) -> str:
        nonlocal hashed
        hashed += 1
        await release.wait()
        return await hash_async(self, password)

    with mock.patch.object(PasswordHasher, "hash_async", held_hash):
        pending = [asyncio.ensure_future(_register(client, f"rush{n}")) for n in range(20)]
        deadline = time.monotonic() + 10
        while hashed + sum(task.done() for task in pending) < 20:
            assert time.monotonic() < deadline, "the registrations never settled"
            await asyncio.sleep(0.005)
        release.set()
        statuses = [response.status_code for response in await asyncio.gather(*pending)]
    assert hashed == MAX_PER_ADDRESS
    assert sorted(statuses) == [201] * MAX_PER_ADDRESS + [429] * (20 - MAX_PER_ADDRESS)


def test_the_common_password_list_is_loaded() -> None:
    passwords = common_passwords()
    assert len(passwords) > 2000
    assert {"password", "qwerty", "iloveyou", "letmein"} <= passwords
    assert all(entry == entry.lower() and not entry.startswith("# ") for entry in passwords)


async def test_registrations_are_audited_without_the_username(
    caplog: pytest.LogCaptureFixture, client: httpx.AsyncClient
) -> None:
    created = (await _register(client)).json()
    await _register(client, "kim@example.com", "password2024")
    audit = [r for r in caplog.records if r.name == "{{ cookiecutter.package_name }}.audit"]
    events = [(r.event, r.user_id, getattr(r, "reason", None)) for r in audit]  # type: ignore[attr-defined]
    assert events == [
        ("user_registered", created["id"], None),
        ("registration_refused", None, "password_too_common"),
    ]
    assert not [r for r in audit if "example.com" in repr(vars(r))]


# What /auth/register refuses must not come back in the 422 (validation_errors.py).
SECRET_REQUESTS = {
    "register-password-too-long": json_request(
        "/auth/register", {"username": "carol", "password": SECRET[:1027]}
    ),
    "register-password-mistyped": json_request(
        "/auth/register", {"username": "carol", "password": {"value": SECRET[:64]}}
    ),
    "register-username-too-long": json_request(
        "/auth/register", {"username": SECRET[:300], "password": "plum-orbit-kettle-42"}
    ),
}
LONE_SURROGATE_REQUESTS = {
    "register-username": raw_request(
        "/auth/register", b'{"username": "ab\\ud800cd", "password": "plum-orbit-kettle-42"}'
    ),
    "register-password": raw_request(
        "/auth/register", b'{"username": "carol", "password": "plum-orbit\\udfff-kettle-42"}'
    ),
    # An unknown field is named in `loc`: its name is the client's, surrogate and all.
    "register-unknown-field": raw_request(
        "/auth/register",
        b'{"username": "carol", "password": "plum-orbit-kettle-42", "x\\ud800": 1}',
    ),
}


@pytest.mark.parametrize("send", SECRET_REQUESTS.values(), ids=SECRET_REQUESTS.keys())
async def test_a_refused_secret_is_never_echoed(client: httpx.AsyncClient, send: Send) -> None:
    assert_refused_silently(await send(client, ""))


@pytest.mark.parametrize(
    "send", LONE_SURROGATE_REQUESTS.values(), ids=LONE_SURROGATE_REQUESTS.keys()
)
async def test_a_lone_surrogate_is_a_422_not_a_500(client: httpx.AsyncClient, send: Send) -> None:
    response = await send(client, "")
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][0] == "body"


@pytest.mark.parametrize("username", IMPOSSIBLE_USERNAMES.values(), ids=IMPOSSIBLE_USERNAMES.keys())
async def test_registering_an_impossible_username_is_a_422(
    client: httpx.AsyncClient, username: str
) -> None:
    response = await client.post(
        "/auth/register", json={"username": username, "password": "plum-orbit-kettle-42"}
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["type"] == "invalid_username"
