"""Races on shared state, forced on purpose instead of hoped for.

Each test pauses the login at the dangerous step (password hashing, where a request spends
almost all its time) with an asyncio.Event, runs the competing requests or account change
while it waits, then lets it go. Throttling must hold for any number of parallel guesses, and
no session may start from a password or account state that changed while it was checked.
"""

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any
from unittest import mock

import httpx
import pytest
from fastapi import FastAPI

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.security.passwords import PasswordHasher
from {{ cookiecutter.package_name }}.users import repository as users

from conftest import KNOWN_SECRETS, PASSWORD, add_user, client_for, login, make_settings, running

MAX_FAILURES = 5
MAX_PER_ADDRESS = 8
NEW_PASSWORD = "an entirely new passphrase 7"
KNOWN_SECRETS.add(NEW_PASSWORD)
WAIT_SECONDS = 10.0


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(
        database_url,
        login_max_failures=MAX_FAILURES,
        login_max_failures_per_address=MAX_PER_ADDRESS,
        login_failure_window_seconds=600,
    )


class HashGate:
    """Holds every password check at the gate until `open()`; counts the checks made."""

    def __init__(self) -> None:
        self.checks = 0
        self.waiting = 0
        self._open = asyncio.Event()
        self._verify = PasswordHasher.verify

    async def verify(
        self, hasher: PasswordHasher, password: str, password_hash: str | None
    ) -> tuple[bool, str | None]:
        self.checks += 1
        result = await self._verify(hasher, password, password_hash)
        self.waiting += 1
        await self._open.wait()
        self.waiting -= 1
        return result

    async def until_waiting(self, count: int) -> None:
        """Return once `count` checks are held at the gate (with a deadline, never a hope)."""
        deadline = time.monotonic() + WAIT_SECONDS
        while self.waiting < count:
            assert time.monotonic() < deadline, f"{self.waiting} of {count} checks arrived"
            await asyncio.sleep(0.005)

    def open(self) -> None:
        self._open.set()


@asynccontextmanager
async def hash_gate() -> AsyncIterator[HashGate]:
    gate = HashGate()

    async def verify(self: PasswordHasher, *args: Any) -> tuple[bool, str | None]:
        return await gate.verify(self, *args)

    with mock.patch.object(PasswordHasher, "verify", verify):
        try:
            yield gate
        finally:
            gate.open()


async def _burst(
    send: Callable[[int], Awaitable[httpx.Response]], count: int, gate: HashGate
) -> list[httpx.Response]:
    """Start `count` requests at once; once every admitted one is held at the gate and every
    refused one has its answer, open the gate and return all the answers."""
    tasks = [asyncio.ensure_future(send(number)) for number in range(count)]
    deadline = time.monotonic() + WAIT_SECONDS
    while gate.waiting + sum(task.done() for task in tasks) < count:
        assert time.monotonic() < deadline, "the burst never settled"
        await asyncio.sleep(0.005)
    gate.open()
    return list(await asyncio.gather(*tasks))


def _statuses(responses: list[httpx.Response]) -> dict[int, int]:
    statuses: dict[int, int] = {}
    for response in responses:
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
    return statuses


# --- throttling: reserve, then hash ------------------------------------------------------


async def test_parallel_guesses_for_one_account_cannot_outrun_its_limit(
    client: httpx.AsyncClient, user_id: str
) -> None:
    async with hash_gate() as gate:
        responses = await _burst(
            lambda n: login(client, password=PASSWORD if n == 39 else f"wrong {n}"), 40, gate
        )
    assert gate.checks <= MAX_FAILURES
    statuses = _statuses(responses)
    assert set(statuses) <= {200, 400, 429}
    assert statuses.get(400, 0) + statuses.get(200, 0) == gate.checks
    assert statuses[429] == 40 - gate.checks
    assert all(r.headers["retry-after"].isdigit() for r in responses if r.status_code == 429)


async def test_a_right_password_during_a_lockout_gets_429(
    client: httpx.AsyncClient, user_id: str
) -> None:
    async with hash_gate() as gate:
        await _burst(lambda n: login(client, password=f"wrong {n}"), 2 * MAX_FAILURES, gate)
    assert gate.checks == MAX_FAILURES
    response = await login(client)
    assert response.status_code == 429
    assert "access_token" not in response.text


async def test_parallel_guesses_over_many_accounts_cannot_outrun_the_address_limit(
    client: httpx.AsyncClient,
) -> None:
    async with hash_gate() as gate:
        responses = await _burst(
            lambda n: login(client, f"user{n}@example.com", "wrong password"), 30, gate
        )
    assert gate.checks == MAX_PER_ADDRESS
    assert _statuses(responses) == {400: MAX_PER_ADDRESS, 429: 30 - MAX_PER_ADDRESS}


async def test_two_workers_share_one_count(settings: Settings, user_id: str) -> None:
    """No per-process state decides a limit: failures on one app count on another."""
    async with running(settings) as (_, first), running(settings) as (_, second):
        for number in range(MAX_FAILURES):
            worker = first if number % 2 else second
            assert (await login(worker, password="wrong password")).status_code == 400
        assert (await login(first)).status_code == 429
        assert (await login(second)).status_code == 429


async def test_a_success_gives_back_its_own_slot_only(
    client: httpx.AsyncClient, user_id: str
) -> None:
    for _ in range(MAX_FAILURES - 1):
        assert (await login(client, password="wrong password")).status_code == 400
    for _ in range(3 * MAX_FAILURES):
        assert (await login(client)).status_code == 200
    # Successes did not reset the failures either: one more reaches the limit.
    assert (await login(client, password="wrong password")).status_code == 400
    assert (await login(client)).status_code == 429


async def test_requests_without_an_address_never_share_a_bucket(app: FastAPI) -> None:
    """Behind a Unix socket without X-Forwarded-For nobody has an address: strangers'
    failures must not lock everybody out, yet each account keeps its own limit."""
    await add_user(app, "carol")
    transport = httpx.ASGITransport(app=app, client=None)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as socket:
        for number in range(2 * MAX_PER_ADDRESS):
            response = await login(socket, f"stranger{number}", "wrong password")
            assert response.status_code == 400
        assert (await login(socket, "carol")).status_code == 200
        for _ in range(MAX_FAILURES):
            assert (await login(socket, "carol", "wrong password")).status_code == 400
        assert (await login(socket, "carol")).status_code == 429


# --- credentials that change while a login is being checked ------------------------------


@asynccontextmanager
async def _login_held_at_the_hash(
    app: FastAPI, password: str
) -> AsyncIterator[tuple[HashGate, "asyncio.Future[httpx.Response]"]]:
    async with hash_gate() as gate, client_for(app) as http:
        pending = asyncio.ensure_future(login(http, password=password))
        await gate.until_waiting(1)
        yield gate, pending


async def test_a_login_in_flight_does_not_survive_a_password_change(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    # Stored with other Argon2 parameters than the app's, so the login also wants to rehash.
    old = PasswordHasher(time_cost=2, memory_kib=1024, parallelism=1)
    async with app.state.services.sessionmaker() as db:
        user = await users.create(db, "alice@example.com", old.hash(PASSWORD))
    async with _login_held_at_the_hash(app, PASSWORD) as (gate, pending):
        await app.state.services.accounts.set_password(
            "alice@example.com", NEW_PASSWORD, client="test"
        )
        gate.open()
        response = await pending
    assert response.status_code == 400
    assert "access_token" not in response.text
    # The rehash of the old password was not written over the new one.
    assert (await login(client, password=PASSWORD)).status_code == 400
    assert (await login(client, password=NEW_PASSWORD)).status_code == 200
    assert await _stored_password_is(app, str(user.id), NEW_PASSWORD)


async def test_a_login_in_flight_does_not_survive_a_deactivation(
    app: FastAPI, client: httpx.AsyncClient, user_id: str
) -> None:
    async with _login_held_at_the_hash(app, PASSWORD) as (gate, pending):
        await app.state.services.accounts.deactivate("alice@example.com", client="test")
        gate.open()
        response = await pending
    assert response.status_code == 400
    assert "access_token" not in response.text


async def test_a_login_that_finished_first_is_ended_by_the_change(
    app: FastAPI, client: httpx.AsyncClient, user_id: str
) -> None:
    tokens = (await login(client)).json()
    await app.state.services.accounts.set_password("alice@example.com", NEW_PASSWORD, client="test")
    refresh = await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refresh.status_code == 401


async def _stored_password_is(app: FastAPI, user_id: str, password: str) -> bool:
    async with app.state.services.sessionmaker() as db:
        user = await users.get_by_id(db, user_id)
    assert user is not None
    valid, _ = await app.state.services.passwords.verify(password, user.password_hash)
    return valid


async def test_rehash_on_login_only_replaces_the_hash_it_verified(
    app: FastAPI, user_id: str
) -> None:
    async with app.state.services.sessionmaker() as db:
        user = await users.get_by_id(db, user_id)
        assert user is not None
        verified = user.password_hash
        await users.change_password(db, user.id, app.state.services.passwords.hash(NEW_PASSWORD))
        replaced = await users.replace_password_hash(
            db, user.id, verified=verified, new=app.state.services.passwords.hash(PASSWORD)
        )
    assert not replaced
    assert await _stored_password_is(app, user_id, NEW_PASSWORD)


async def test_a_password_change_keeps_its_session_while_an_old_password_login_fails(
    app: FastAPI, client: httpx.AsyncClient, user_id: str
) -> None:
    """POST /users/me/password commits while a login with the old password is hashing: the
    login must not start a session, and the session that made the change goes on."""
    caller = (await login(client)).json()
    held, release = asyncio.Event(), asyncio.Event()
    verify = PasswordHasher.verify
    calls = 0

    async def hold_the_first(
        self: PasswordHasher, password: str, password_hash: str | None
    ) -> tuple[bool, str | None]:
        nonlocal calls
        calls += 1
        first = calls == 1
        result = await verify(self, password, password_hash)
        if first:
            held.set()
            await release.wait()
        return result

    with mock.patch.object(PasswordHasher, "verify", hold_the_first):
        async with client_for(app) as http:
            pending = asyncio.ensure_future(login(http))
            await asyncio.wait_for(held.wait(), WAIT_SECONDS)
            changed = await client.post(
                "/users/me/password",
                headers={"Authorization": f"Bearer {caller['access_token']}"},
                json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
            )
            release.set()
            response = await pending
    assert changed.status_code == 204
    assert response.status_code == 400
    assert "access_token" not in response.text
    headers = {"Authorization": f"Bearer {caller['access_token']}"}
    assert (await client.get("/users/me", headers=headers)).status_code == 200
    refreshed = await client.post("/auth/refresh", json={"refresh_token": caller["refresh_token"]})
    assert refreshed.status_code == 200
