"""A refused request body gets a 422 that says what and where, never the value it refused.

The token endpoint answers RFC 6749's 400 instead, just as silent: test_token_endpoint.py."""

import httpx
import pytest

from hostile_input import (
    SECRET,
    Send,
    assert_refused_silently,
    json_request,
    raw_request,
)

# Every endpoint that takes a password or a token, with one over-long and one mistyped secret
# (registration's are in test_registration.py).
SECRET_REQUESTS = {
    "refresh-token-too-long": json_request("/auth/refresh", {"refresh_token": SECRET[:4103]}),
    "refresh-token-mistyped": json_request(
        "/auth/refresh", {"refresh_token": {"token": SECRET[:64]}}
    ),
    "logout-token-too-long": json_request(
        "/auth/logout", {"refresh_token": SECRET[:4103]}, signed_in=True
    ),
    "logout-token-mistyped": json_request(
        "/auth/logout", {"refresh_token": [SECRET[:64]]}, signed_in=True
    ),
}

# A lone surrogate is valid JSON text but no valid string: it must be refused, not crash.
LONE_SURROGATE_REQUESTS = {
    "refresh": raw_request("/auth/refresh", b'{"refresh_token": "ab\\ud800cd"}'),
    "logout": raw_request("/auth/logout", b'{"refresh_token": "ab\\ud800cd"}', signed_in=True),
}


@pytest.mark.parametrize("send", SECRET_REQUESTS.values(), ids=SECRET_REQUESTS.keys())
async def test_a_refused_secret_is_never_echoed(
    client: httpx.AsyncClient, tokens: dict[str, str], send: Send
) -> None:
    assert_refused_silently(await send(client, tokens["access_token"]))


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
