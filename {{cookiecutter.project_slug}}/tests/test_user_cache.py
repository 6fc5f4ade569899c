"""The per-process user cache behind CurrentUser: fast, bounded, and never beats revocation."""

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.users import repository as users
from {{ cookiecutter.package_name }}.users.cache import UserCache
from {{ cookiecutter.package_name }}.users.models import User
from {{ cookiecutter.package_name }}.users.snapshot import UserSnapshot

from conftest import bearer, client_for, login, make_settings


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def snapshot(name: str = "alice") -> UserSnapshot:
    return UserSnapshot(uuid.uuid4(), name, True, "user", datetime.now(UTC))


async def deactivate_all(app: FastAPI) -> None:
    async with app.state.services.sessionmaker() as db:
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


async def test_concurrent_misses_share_one_load() -> None:
    cache = UserCache(ttl=5)
    user = snapshot()
    loads = 0
    release = asyncio.Event()

    async def load() -> UserSnapshot:
        nonlocal loads
        loads += 1
        await release.wait()
        return user

    waiters = [asyncio.create_task(cache.get_or_load("u1", load)) for _ in range(20)]
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(*waiters) == [user] * 20
    assert loads == 1
    assert cache.get("u1") is user


async def test_a_waiter_that_goes_away_does_not_cancel_the_shared_load() -> None:
    cache = UserCache(ttl=5)
    user = snapshot()
    release = asyncio.Event()

    async def load() -> UserSnapshot:
        await release.wait()
        return user

    leaving = asyncio.create_task(cache.get_or_load("u1", load))
    staying = asyncio.create_task(cache.get_or_load("u1", load))
    await asyncio.sleep(0)
    leaving.cancel()
    release.set()
    assert await staying is user
    assert leaving.cancelled()


async def test_a_failed_load_reaches_every_waiter_and_is_not_cached() -> None:
    cache = UserCache(ttl=5)
    release = asyncio.Event()

    async def failing() -> UserSnapshot:
        await release.wait()
        raise ConnectionRefusedError

    waiters = [asyncio.create_task(cache.get_or_load("u1", failing)) for _ in range(3)]
    await asyncio.sleep(0)
    release.set()
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert all(isinstance(result, ConnectionRefusedError) for result in results)
    user = snapshot()

    async def load() -> UserSnapshot:
        return user

    assert await cache.get_or_load("u1", load) is user


async def test_inactive_or_missing_users_are_not_cached() -> None:
    cache = UserCache(ttl=5)
    inactive = UserSnapshot(uuid.uuid4(), "bob", False, "user", datetime.now(UTC))

    async def load_inactive() -> UserSnapshot:
        return inactive

    async def load_missing() -> None:
        return None

    assert await cache.get_or_load("u1", load_inactive) is inactive
    assert await cache.get_or_load("u2", load_missing) is None
    assert len(cache) == 0


async def test_concurrent_requests_after_expiry_query_the_database_once(
    app: FastAPI,
    client: httpx.AsyncClient,
    tokens: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    queries = 0
    get_by_id = users.get_by_id

    async def counting_get_by_id(db: AsyncSession, user_id: str) -> User | None:
        nonlocal queries
        queries += 1
        return await get_by_id(db, user_id)

    monkeypatch.setattr(users, "get_by_id", counting_get_by_id)
    headers = bearer(tokens["access_token"])
    responses = await asyncio.gather(*(client.get("/users/me", headers=headers) for _ in range(20)))
    assert [response.status_code for response in responses] == [200] * 20
    assert queries == 1


def test_the_snapshot_holds_no_password_hash() -> None:
    assert "password_hash" not in UserSnapshot.__slots__


async def test_a_deactivation_in_the_database_shows_when_the_entry_expires(
    app: FastAPI, client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    clock = FakeClock()
    cache = UserCache(ttl=5, clock=clock)
    # The cache CurrentUser reads from the app's services, swapped for this app only.
    app.state.services = replace(app.state.services, user_cache=cache)
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
    cache = UserCache(ttl=60)
    app.state.services = replace(app.state.services, user_cache=cache)
    headers = bearer(tokens["access_token"])
    assert (await client.get("/users/me", headers=headers)).status_code == 200
    await app.state.services.accounts.deactivate("alice@example.com", client="test")
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
