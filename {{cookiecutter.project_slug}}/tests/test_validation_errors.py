"""A refused request body gets a 422 that says what and where, never the value it refused.

The token endpoint answers RFC 6749's 400 instead, just as silent: test_token_endpoint.py."""

import secrets
from collections.abc import Awaitable, Callable

import httpx
import pytest

from conftest import KNOWN_SECRETS, bearer

# Distinctive, so finding any 24 characters of it in an answer means it was echoed.
SECRET = "s3cr3t-" + secrets.token_hex(2100)
KNOWN_SECRETS.add(SECRET)
assert len(SECRET) > 4103
PUBLIC_FIELDS = {"type", "loc", "msg", "ctx"}

Send = Callable[[httpx.AsyncClient, str], Awaitable[httpx.Response]]


def _json(path: str, body: object, *, signed_in: bool = False) -> Send:
    async def send(client: httpx.AsyncClient, access_token: str) -> httpx.Response:
        headers = bearer(access_token) if signed_in else {}
        return await client.post(path, json=body, headers=headers)

    return send


def _raw(path: str, body: bytes, *, signed_in: bool = False) -> Send:
    async def send(client: httpx.AsyncClient, access_token: str) -> httpx.Response:
        headers = {"Content-Type": "application/json"}
        if signed_in:
            headers |= bearer(access_token)
        return await client.post(path, content=body, headers=headers)

    return send


# Every endpoint that takes a password or a token, with one over-long and one mistyped secret.
SECRET_REQUESTS = {
    "refresh-token-too-long": _json("/auth/refresh", {"refresh_token": SECRET[:4103]}),
    "refresh-token-mistyped": _json("/auth/refresh", {"refresh_token": {"token": SECRET[:64]}}),
    "logout-token-too-long": _json(
        "/auth/logout", {"refresh_token": SECRET[:4103]}, signed_in=True
    ),
    "logout-token-mistyped": _json(
        "/auth/logout", {"refresh_token": [SECRET[:64]]}, signed_in=True
    ),
{%- if cookiecutter.allow_registration %}
    "register-password-too-long": _json(
        "/auth/register", {"username": "carol", "password": SECRET[:1027]}
    ),
    "register-password-mistyped": _json(
        "/auth/register", {"username": "carol", "password": {"value": SECRET[:64]}}
    ),
    "register-username-too-long": _json(
        "/auth/register", {"username": SECRET[:300], "password": "plum-orbit-kettle-42"}
    ),
{%- endif %}
}

# A lone surrogate is valid JSON text but no valid string: it must be refused, not crash.
LONE_SURROGATE_REQUESTS = {
    "refresh": _raw("/auth/refresh", b'{"refresh_token": "ab\\ud800cd"}'),
    "logout": _raw("/auth/logout", b'{"refresh_token": "ab\\ud800cd"}', signed_in=True),
{%- if cookiecutter.allow_registration %}
    "register-username": _raw(
        "/auth/register", b'{"username": "ab\\ud800cd", "password": "plum-orbit-kettle-42"}'
    ),
    "register-password": _raw(
        "/auth/register", b'{"username": "carol", "password": "plum-orbit\\udfff-kettle-42"}'
    ),
    # An unknown field is named in `loc`: its name is the client's, surrogate and all.
    "register-unknown-field": _raw(
        "/auth/register",
        b'{"username": "carol", "password": "plum-orbit-kettle-42", "x\\ud800": 1}',
    ),
{%- endif %}
}


@pytest.mark.parametrize("send", SECRET_REQUESTS.values(), ids=SECRET_REQUESTS.keys())
async def test_a_refused_secret_is_never_echoed(
    client: httpx.AsyncClient, tokens: dict[str, str], send: Send
) -> None:
    response = await send(client, tokens["access_token"])
    assert response.status_code == 422, response.text
    for start in range(0, 64, 24):
        assert SECRET[start : start + 24] not in response.text
    for error in response.json()["detail"]:
        assert set(error) <= PUBLIC_FIELDS, error
        assert {"type", "loc", "msg"} <= set(error), error


@pytest.mark.parametrize(
    "send", LONE_SURROGATE_REQUESTS.values(), ids=LONE_SURROGATE_REQUESTS.keys()
)
async def test_a_lone_surrogate_is_a_422_not_a_500(
    client: httpx.AsyncClient, tokens: dict[str, str], send: Send
) -> None:
    response = await send(client, tokens["access_token"])
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][0] == "body"


async def test_the_broken_rule_keeps_its_limit(client: httpx.AsyncClient) -> None:
    response = await client.post("/auth/refresh", json={"refresh_token": SECRET[:4097]})
    [error] = response.json()["detail"]
    assert error == {
        "type": "string_too_long",
        "loc": ["body", "refresh_token"],
        "msg": "String should have at most 4096 characters",
        "ctx": {"max_length": 4096},
    }


async def test_a_missing_field_is_named(client: httpx.AsyncClient) -> None:
    response = await client.post("/auth/refresh", json={})
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {"type": "missing", "loc": ["body", "refresh_token"], "msg": "Field required"}
    ]
