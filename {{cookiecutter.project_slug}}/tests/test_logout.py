"""POST /auth/logout: revocation that is immediate here and reaches other workers fast."""

import asyncio
import time

import httpx
from fastapi import FastAPI

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.main import create_app

from conftest import bearer, client_for, login


async def _logout(client: httpx.AsyncClient, tokens: dict[str, str]) -> httpx.Response:
    return await client.post(
        "/auth/logout",
        headers=bearer(tokens["access_token"]),
        json={"refresh_token": tokens["refresh_token"]},
    )


async def test_logout_revokes_access_and_refresh_at_once(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    assert (await _logout(client, tokens)).status_code == 204
    assert (
        await client.get("/protected", headers=bearer(tokens["access_token"]))
    ).status_code == 401
    assert (
        await client.get("/users/me", headers=bearer(tokens["access_token"]))
    ).status_code == 401
    refresh = await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refresh.status_code == 401


async def test_logout_needs_an_access_token(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    response = await client.post("/auth/logout", json={"refresh_token": tokens["refresh_token"]})
    assert response.status_code == 401
    assert (
        await client.get("/protected", headers=bearer(tokens["access_token"]))
    ).status_code == 200


async def test_logout_leaves_other_sessions_alone(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    other = (await login(client)).json()
    await _logout(client, tokens)
    assert (
        await client.get("/protected", headers=bearer(other["access_token"]))
    ).status_code == 200


async def test_logout_reaches_another_worker_within_a_second(
    settings: Settings, client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    other_worker = create_app(settings)
    async with (
        other_worker.router.lifespan_context(other_worker),
        client_for(other_worker) as other,
    ):
        headers = bearer(tokens["access_token"])
        assert (await other.get("/protected", headers=headers)).status_code == 200
        await _logout(client, tokens)
        deadline = time.monotonic() + 1.0
        while (await other.get("/protected", headers=headers)).status_code == 200:
            assert time.monotonic() < deadline, "revocation did not reach the other worker in 1 s"
            await asyncio.sleep(0.02)


async def test_a_new_worker_starts_with_existing_revocations(
    settings: Settings, client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    await _logout(client, tokens)
    late_worker: FastAPI = create_app(settings)
    async with late_worker.router.lifespan_context(late_worker), client_for(late_worker) as other:
        response = await other.get("/protected", headers=bearer(tokens["access_token"]))
        assert response.status_code == 401
