"""Claims of the application's own: issued in one place (auth/claims.py), read in a route."""

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from {{ cookiecutter.package_name }}.auth import claims
from {{ cookiecutter.package_name }}.auth.dependencies import CurrentClaims
from {{ cookiecutter.package_name }}.users.models import User

from conftest import bearer, login

EXTRA: dict[str, Any] = {
    "tenant": "acme",
    "plan_level": 3,
    "ratio": 0.5,
    "beta": True,
    "groups": ["ops", "billing"],
    "profile": {"locale": "de-CH", "seats": [1, 2]},
    "nothing": None,
}


@pytest.fixture
def custom_claims(monkeypatch: pytest.MonkeyPatch) -> list[User]:
    """`custom_claims` returning one claim of every JSON type; records whom it was asked for."""
    asked: list[User] = []

    def with_extra(user: User) -> dict[str, Any]:
        asked.append(user)
        return dict(EXTRA)

    monkeypatch.setattr(claims, "custom_claims", with_extra)
    return asked


async def test_a_route_reads_every_json_type_back(
    app: FastAPI, client: httpx.AsyncClient, user_id: str, custom_claims: list[User]
) -> None:
    @app.get("/whoami-extra")
    async def whoami_extra(claims: CurrentClaims) -> dict[str, Any]:
        return dict(claims.extra)

    tokens = (await login(client)).json()
    response = await client.get("/whoami-extra", headers=bearer(tokens["access_token"]))
    assert response.json() == EXTRA
    assert [str(user.id) for user in custom_claims] == [user_id]


async def test_refresh_asks_again_with_the_current_user(
    client: httpx.AsyncClient, user_id: str, custom_claims: list[User]
) -> None:
    tokens = (await login(client)).json()
    refresh = await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refresh.status_code == 200
    assert len(custom_claims) == 2


async def test_a_refreshed_token_carries_the_users_values_as_the_rotation_found_them(
    app: FastAPI, client: httpx.AsyncClient, user_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(claims, "custom_claims", lambda user: {"name": user.username})
    tokens = (await login(client)).json()
    # Changed straight in SQL, without a credentials change: the session goes on.
    async with app.state.services.sessionmaker() as db:
        await db.execute(update(User).values(username="alice@example.org"))
        await db.commit()
    refresh = await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refresh.status_code == 200
    verified = app.state.services.tokens.verify_access(refresh.json()["access_token"])
    assert dict(verified.extra) == {"name": "alice@example.org"}


async def test_the_cores_own_claims_cannot_be_overridden(
    client: httpx.AsyncClient, user_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(claims, "custom_claims", lambda _: {"sub": "someone-else"})
    with pytest.raises(ValueError, match="sub"):
        await login(client)


async def test_custom_claims_failing_at_a_refresh_spend_nothing(
    client: httpx.AsyncClient, user_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store makes the new tokens before its rotation is final: a `custom_claims` that
    raises for this user leaves the refresh token unspent, so once fixed the same token
    refreshes, instead of its retry looking like a stolen token's reuse."""
    tokens = (await login(client)).json()
    with monkeypatch.context() as patch:
        patch.setattr(claims, "custom_claims", lambda _: {"sub": "someone-else"})
        with pytest.raises(ValueError, match="sub"):
            await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    refresh = await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refresh.status_code == 200, refresh.text
    assert (await client.get("/protected", headers=bearer(tokens["access_token"]))).is_success


async def test_without_custom_claims_tokens_carry_none(
    app: FastAPI, client: httpx.AsyncClient, user_id: str
) -> None:
    tokens = (await login(client)).json()
    verified = app.state.services.tokens.verify_access(tokens["access_token"])
    assert dict(verified.extra) == {}
