"""The per-process user cache behind CurrentUser: fast, bounded, and never beats revocation."""

import uuid
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.users.cache import UserCache, UserSnapshot
from {{ cookiecutter.package_name }}.users.models import User

from conftest import bearer, client_for, login, make_settings


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def snapshot(name: str = "alice") -> UserSnapshot:
    return UserSnapshot(uuid.uuid4(), name, True, datetime.now(UTC))


async def deactivate_all(app: FastAPI) -> None:
    async with app.state.sessionmaker() as db:
        await db.execute(update(User).values(is_active=False))
        await db.commit()


def test_entries_expire_after_ttl() -> None:
    clock = FakeClock()
    cache = UserCache(ttl=5, clock=clock)
    user = snapshot()
    cache.put("u1", user)
    clock.now += 4.9
    assert cache.get("u1") is user
    clock.now += 0.1
    assert cache.get("u1") is None
    assert len(cache) == 0


def test_ttl_zero_turns_the_cache_off() -> None:
    cache = UserCache(ttl=0)
    cache.put("u1", snapshot())
    assert cache.get("u1") is None


def test_the_cache_is_bounded_and_drops_the_oldest_entry() -> None:
    cache = UserCache(ttl=60, max_entries=2)
    for user_id in ("u1", "u2", "u3"):
        cache.put(user_id, snapshot(user_id))
    assert len(cache) == 2
    assert cache.get("u1") is None
    assert cache.get("u3") is not None


def test_the_snapshot_holds_no_password_hash() -> None:
    assert "password_hash" not in UserSnapshot.__slots__


async def test_a_deactivation_in_the_database_shows_when_the_entry_expires(
    app: FastAPI, client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    clock = FakeClock()
    app.state.user_cache = UserCache(ttl=5, clock=clock)
    headers = bearer(tokens["access_token"])
    assert (await client.get("/users/me", headers=headers)).status_code == 200
    await deactivate_all(app)
    # Within the TTL the worker still answers from memory: the documented staleness bound.
    assert (await client.get("/users/me", headers=headers)).status_code == 200
    clock.now += 5
    assert (await client.get("/users/me", headers=headers)).status_code == 401


async def test_deactivation_through_the_app_beats_a_cached_user(
    app: FastAPI, client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    app.state.user_cache = UserCache(ttl=60)
    headers = bearer(tokens["access_token"])
    assert (await client.get("/users/me", headers=headers)).status_code == 200
    await app.state.accounts.deactivate("alice@example.com", client="test")
    assert (await client.get("/users/me", headers=headers)).status_code == 401


async def test_logout_beats_a_cached_user(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    headers = bearer(tokens["access_token"])
    assert (await client.get("/users/me", headers=headers)).status_code == 200
    assert (await client.post("/auth/logout", headers=headers)).status_code == 204
    assert (await client.get("/users/me", headers=headers)).status_code == 401


@pytest.mark.usefixtures("user_id")
async def test_without_the_cache_a_deactivation_shows_at_once(database_url: str) -> None:
    application = create_app(make_settings(database_url, user_cache_seconds=0))
    async with application.router.lifespan_context(application), client_for(application) as client:
        access = (await login(client)).json()["access_token"]
        assert (await client.get("/users/me", headers=bearer(access))).status_code == 200
        await deactivate_all(application)
        assert (await client.get("/users/me", headers=bearer(access))).status_code == 401
