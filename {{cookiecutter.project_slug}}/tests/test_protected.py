"""How a protected route reads credentials: one Bearer header, nothing else."""

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


async def test_other_schemes_are_refused(client: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    for value in (f"Basic {tokens['access_token']}", tokens["access_token"], "Bearer", "Bearer "):
        response = await client.get("/protected", headers={"Authorization": value})
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")


async def test_two_authorization_headers_are_refused(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    token = tokens["access_token"]
    headers = [("Authorization", f"Bearer {token}"), ("Authorization", f"Bearer {token}")]
    assert (await client.get("/protected", headers=headers)).status_code == 401


async def test_merged_header_values_are_refused(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    token = tokens["access_token"]
    response = await client.get(
        "/protected", headers={"Authorization": f"Bearer {token}, Bearer {token}"}
    )
    assert response.status_code == 401


async def test_a_token_in_the_query_string_is_ignored(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    response = await client.get("/protected", params={"access_token": tokens["access_token"]})
    assert response.status_code == 401


async def test_a_401_never_echoes_the_token(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    tampered = tokens["access_token"][:-4] + "AAAA"
    response = await client.get("/protected", headers=bearer(tampered))
    assert response.status_code == 401
    assert tampered not in response.text


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


async def test_deeply_nested_json_is_a_4xx(client: httpx.AsyncClient) -> None:
    body = b"[" * 30000 + b"]" * 30000
    response = await client.post(
        "/auth/refresh", content=body, headers={"content-type": "application/json"}
    )
    assert 400 <= response.status_code < 500
