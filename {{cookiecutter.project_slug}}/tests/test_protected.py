"""How a protected route reads credentials: one Bearer header, nothing else.

Every way of sending a credential wrongly is in test_attacks.py."""

from collections.abc import AsyncIterator

import httpx

from conftest import bearer


async def test_protected_route_answers_from_the_token(
    client: httpx.AsyncClient, tokens: dict[str, str], user_id: str
) -> None:
    response = await client.get("/protected", headers=bearer(tokens["access_token"]))
    assert response.status_code == 200
    assert response.json() == {"user_id": user_id}


async def test_no_token_gets_401_with_a_bearer_challenge(client: httpx.AsyncClient) -> None:
    response = await client.get("/protected")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


async def test_the_scheme_is_case_insensitive(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    response = await client.get(
        "/protected", headers={"Authorization": f"bearer {tokens['access_token']}"}
    )
    assert response.status_code == 200


async def test_whitespace_around_the_header_value_is_ignored(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    """RFC 9110 section 5.5: it is not part of the value, whatever the HTTP parser does."""
    value = f" \tBearer {tokens['access_token']} \t".encode()
    response = await client.get("/protected", headers={"Authorization": value})
    assert response.status_code == 200


async def test_oversized_bodies_get_413_before_being_read(client: httpx.AsyncClient) -> None:
    big = b"x" * (65536 + 1)
    declared = await client.post(
        "/auth/refresh", content=big, headers={"content-type": "application/json"}
    )
    assert declared.status_code == 413

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the body is streamed
        for _ in range(20):
            yield b"x" * 8192

    streamed = await client.post(
        "/auth/refresh", content=chunks(), headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413
