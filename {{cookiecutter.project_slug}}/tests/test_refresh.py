"""POST /auth/refresh: rotation on every use, and reuse detection."""

import asyncio

import httpx
import jwt
from fastapi import FastAPI
from sqlalchemy import update

from {{ cookiecutter.package_name }}.users.models import User

from conftest import bearer


async def _refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/auth/refresh", json={"refresh_token": token})


async def test_refresh_rotates_both_tokens(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    response = await _refresh(client, tokens["refresh_token"])
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    fresh = response.json()
    assert fresh["refresh_token"] != tokens["refresh_token"]
    assert fresh["access_token"] != tokens["access_token"]
    assert (
        await client.get("/protected", headers=bearer(fresh["access_token"]))
    ).status_code == 200
    assert (await _refresh(client, fresh["refresh_token"])).status_code == 200


async def test_refresh_keeps_the_session_and_never_extends_it(
    app: FastAPI, client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    before = jwt.decode(tokens["refresh_token"], options={"verify_signature": False})
    fresh = (await _refresh(client, tokens["refresh_token"])).json()
    after = jwt.decode(fresh["refresh_token"], options={"verify_signature": False})
    assert after["sid"] == before["sid"]
    # The idle timer restarts, but the session's absolute end stays where the login put it.
    assert after["auth_time"] == before["auth_time"]
    session_end = before["auth_time"] + app.state.services.settings.refresh_token_seconds
    assert after["exp"] <= session_end


async def test_reusing_a_rotated_token_revokes_the_whole_session(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    fresh = (await _refresh(client, tokens["refresh_token"])).json()
    reuse = await _refresh(client, tokens["refresh_token"])
    assert reuse.status_code == 401
    assert reuse.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    # The thief's copy and the legitimate successor are both dead now, access tokens too.
    assert (await _refresh(client, fresh["refresh_token"])).status_code == 401
    assert (
        await client.get("/protected", headers=bearer(fresh["access_token"]))
    ).status_code == 401
    assert (
        await client.get("/protected", headers=bearer(tokens["access_token"]))
    ).status_code == 401


async def test_concurrent_refreshes_of_one_token_succeed_at_most_once(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    responses = await asyncio.gather(*(_refresh(client, tokens["refresh_token"]) for _ in range(8)))
    statuses = sorted(response.status_code for response in responses)
    assert statuses.count(200) <= 1
    assert all(code in (200, 401) for code in statuses)


async def test_an_access_token_cannot_refresh(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    assert (await _refresh(client, tokens["access_token"])).status_code == 401


async def test_other_sessions_survive_a_reuse(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    from conftest import login

    other = (await login(client)).json()
    await _refresh(client, tokens["refresh_token"])
    await _refresh(client, tokens["refresh_token"])
    assert (await _refresh(client, other["refresh_token"])).status_code == 200


async def test_bad_refresh_requests(client: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    assert (await _refresh(client, "not-a-token")).status_code == 401
    assert (await _refresh(client, "x" * 5000)).status_code == 422
    assert (await client.post("/auth/refresh", json={})).status_code == 422
    assert (
        await client.post(
            "/auth/refresh", content=b"{", headers={"content-type": "application/json"}
        )
    ).status_code == 422


async def test_a_user_deactivated_by_hand_loses_the_session_at_its_next_refresh(
    app: FastAPI, client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    """Deactivated straight in SQL, as an operator might: no credentials version raised,
    nothing revoked. The rotation reads the user and refuses, and ends the session: its
    access token stops working too, and so does its refresh token once reactivated."""
    async with app.state.services.sessionmaker() as db:
        await db.execute(update(User).values(is_active=False))
        await db.commit()
    assert (await _refresh(client, tokens["refresh_token"])).status_code == 401
    protected = await client.get("/protected", headers=bearer(tokens["access_token"]))
    assert protected.status_code == 401
    async with app.state.services.sessionmaker() as db:
        await db.execute(update(User).values(is_active=True))
        await db.commit()
    assert (await _refresh(client, tokens["refresh_token"])).status_code == 401
