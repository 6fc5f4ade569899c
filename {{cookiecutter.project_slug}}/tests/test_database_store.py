"""The database token store: revocations reach every worker in commit order, whatever the
clocks say, and a session rotates only under the credentials it was issued for."""

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from unittest import mock

import httpx
import jwt
import pytest
from fastapi import FastAPI
from sqlalchemy import event, func, select, update
from sqlalchemy.exc import OperationalError

from {{ cookiecutter.package_name }}.auth.stores import database
from {{ cookiecutter.package_name }}.auth.stores.database import DatabaseTokenStore
from {{ cookiecutter.package_name }}.auth.stores.database_tables import AuthSession, Revocation
from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.security.database_throttle import ThrottleAttempt
from {{ cookiecutter.package_name }}.users.models import User

from conftest import add_user, bearer, login, make_settings, running

POLL_SECONDS = 0.05  # the test settings' REVOCATION_POLL_SECONDS


@contextmanager
def _clock_off_by(seconds: float) -> Iterator[None]:
    """This process's wall clock `seconds` off, as on a host whose clock has drifted."""
    real = time.time
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(time, "time", lambda: real() + seconds)
        yield


@asynccontextmanager
async def _other_worker(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with running(settings) as (_, http):
        yield http


async def _refused_within(http: httpx.AsyncClient, token: str, seconds: float) -> float:
    """Seconds until `http`'s app refuses `token`; fails the test past `seconds`."""
    started = time.monotonic()
    while (await http.get("/protected", headers=bearer(token))).status_code != 401:
        assert time.monotonic() - started < seconds, f"still accepted after {seconds} s"
        await asyncio.sleep(0.01)
    return time.monotonic() - started


async def test_a_revocation_that_commits_late_still_reaches_every_worker(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings, user_id: str
) -> None:
    """The logout's transaction is held open (as by a lock or a slow disk) while the other
    worker polls again and again, and this process's clock jumps a minute ahead: a poll by
    timestamp would have moved past the revocation before it committed."""
    tokens = (await login(client)).json()
    async with _other_worker(settings) as other:
        assert (await other.get("/protected", headers=bearer(tokens["access_token"]))).is_success
        store: DatabaseTokenStore = app.state.services.auth._store
        held, release = asyncio.Event(), asyncio.Event()
        revoke = store._revoke

        async def slow_revoke(*args: object) -> object:
            revoked = await revoke(*args)  # type: ignore[arg-type]
            held.set()
            await release.wait()  # still inside the transaction: nothing is committed
            return revoked

        with mock.patch.object(store, "_revoke", slow_revoke):
            logout = asyncio.ensure_future(
                client.post("/auth/logout", headers=bearer(tokens["access_token"]))
            )
            await held.wait()
            with _clock_off_by(60):
                # Several polls of the other worker pass while the revocation is uncommitted.
                await asyncio.sleep(10 * POLL_SECONDS)
                assert (
                    await other.get("/protected", headers=bearer(tokens["access_token"]))
                ).is_success
                release.set()
                assert (await logout).status_code == 204
                delay = await _refused_within(other, tokens["access_token"], POLL_SECONDS + 1)
    assert delay <= POLL_SECONDS + 1


async def test_a_revocation_made_with_a_clock_minutes_off_reaches_every_worker(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings, user_id: str
) -> None:
    tokens = [(await login(client)).json() for _ in range(2)]
    async with _other_worker(settings) as other:
        for pair, skew in zip(tokens, (-600, 600), strict=True):
            with _clock_off_by(skew):
                logout = await client.post("/auth/logout", headers=bearer(pair["access_token"]))
            assert logout.status_code == 204
            await _refused_within(other, pair["access_token"], POLL_SECONDS + 1)


async def test_a_worker_started_later_loads_the_revocations_that_still_matter(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings, user_id: str
) -> None:
    tokens = (await login(client)).json()
    with _clock_off_by(-600):
        assert (
            await client.post("/auth/logout", headers=bearer(tokens["access_token"]))
        ).status_code == 204
    async with _other_worker(settings) as other:
        response = await other.get("/protected", headers=bearer(tokens["access_token"]))
        assert response.status_code == 401


async def test_revocations_are_numbered_in_commit_order(
    app: FastAPI, client: httpx.AsyncClient, user_id: str
) -> None:
    sessions = [(await login(client)).json() for _ in range(5)]
    await asyncio.gather(
        *(client.post("/auth/logout", headers=bearer(s["access_token"])) for s in sessions)
    )
    async with app.state.services.sessionmaker() as db:
        numbers = list(await db.scalars(select(Revocation.seq).order_by(Revocation.seq)))
    assert numbers == list(range(numbers[0], numbers[0] + 5))


async def test_a_session_of_older_credentials_cannot_rotate(
    app: FastAPI, client: httpx.AsyncClient, user_id: str
) -> None:
    """Even if a credentials change somehow left a session unrevoked (an UPDATE made behind
    the service's back), the rotation checks the version in the same statement."""
    tokens = (await login(client)).json()
    async with app.state.services.sessionmaker() as db, db.begin():
        await db.execute(update(User).values(credentials_version=User.credentials_version + 1))
    refresh = await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refresh.status_code == 401
    async with app.state.services.sessionmaker() as db:
        session = await db.scalar(select(AuthSession))
    assert session is not None
    assert session.revoked_at is None  # refused by the check, not by a revocation


async def test_a_refresh_is_one_connection_and_one_transaction(
    app: FastAPI, client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    """The user is read in the rotation's own statement: no second pooled connection (its
    checkout, reset and thread hand-offs were a third of a refresh). Only this request's own
    connections count: the revocation poll runs beside it in a task of its own."""
    engine = app.state.services.sessionmaker.kw["bind"].sync_engine
    request_task = asyncio.current_task()
    seen: list[str] = []

    def checkout(*_: object) -> None:
        if asyncio.current_task() is request_task:
            seen.append("checkout")

    def commit(*_: object) -> None:
        if asyncio.current_task() is request_task:
            seen.append("commit")

    event.listen(engine, "checkout", checkout)
    event.listen(engine, "commit", commit)
    try:
        refresh = await client.post(
            "/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
        )
    finally:
        event.remove(engine, "checkout", checkout)
        event.remove(engine, "commit", commit)
    assert refresh.status_code == 200
    assert seen == ["checkout", "commit"]


async def test_a_failure_inside_the_rotation_spends_nothing(
    client: httpx.AsyncClient, tokens: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rotation's UPDATE ran, then something failed before its commit: the transaction
    rolls back whole, and the client's retry is a plain refresh, not a reuse."""

    def lost(_: object) -> User:
        raise OperationalError("UPDATE auth_sessions", {}, ConnectionError("lost"))

    with monkeypatch.context() as patch:
        patch.setattr(database, "user_from_row", lost)
        failed = await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert failed.status_code == 503
    retried = await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert retried.status_code == 200, retried.text
    assert (await client.get("/protected", headers=bearer(tokens["access_token"]))).is_success


async def test_every_worker_sees_every_revocation(
    client: httpx.AsyncClient, settings: Settings, user_id: str
) -> None:
    tokens = [(await login(client)).json() for _ in range(3)]
    async with running(settings) as (_, second), running(settings) as (_, third):
        for pair in tokens:
            await client.post("/auth/logout", headers=bearer(pair["access_token"]))
        for worker in (second, third):
            for pair in tokens:
                await _refused_within(worker, pair["access_token"], POLL_SECONDS + 1)


async def test_the_store_enforces_the_absolute_end_too(
    app: FastAPI, client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    async with app.state.services.sessionmaker() as db:
        await db.execute(update(AuthSession).values(expires_at=int(time.time()) - 1))
        await db.commit()
    refresh = await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refresh.status_code == 401


async def test_a_failed_poll_is_logged_and_retried(
    app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    """A database outage must not end the poller: the worker would never again learn of
    other workers' revocations."""
    store: DatabaseTokenStore = app.state.services.auth._store
    polled = asyncio.Event()
    poll = store.poll
    failures = [OperationalError("SELECT", {}, Exception("database is locked"))]

    async def flaky_poll() -> None:
        if failures:
            raise failures.pop()
        await poll()
        polled.set()

    with mock.patch.object(store, "poll", flaky_poll):
        await asyncio.wait_for(polled.wait(), timeout=5)
    assert "could not poll revocations; retrying" in caplog.messages


async def test_revoking_a_user_keeps_only_a_session_of_the_version_just_replaced(
    app: FastAPI, client: httpx.AsyncClient, user_id: str
) -> None:
    """keep_session re-stamps the caller's session only if it was issued under the version
    the change replaced: after a change in between it ends with the rest."""
    store: DatabaseTokenStore = app.state.services.auth._store
    caller, other = (await login(client)).json(), (await login(client)).json()

    async def bump() -> int:
        async with app.state.services.sessionmaker() as db, db.begin():
            version = await db.scalar(
                update(User)
                .values(credentials_version=User.credentials_version + 1)
                .returning(User.credentials_version)
            )
        assert version is not None
        return version

    caller_sid = jwt.decode(caller["access_token"], options={"verify_signature": False})["sid"]
    await store.revoke_user(user_id, credentials_version=await bump(), keep_session=caller_sid)
    renewed = await client.post("/auth/refresh", json={"refresh_token": caller["refresh_token"]})
    assert renewed.status_code == 200
    refused = await client.post("/auth/refresh", json={"refresh_token": other["refresh_token"]})
    assert refused.status_code == 401
    await bump()
    await store.revoke_user(user_id, credentials_version=await bump(), keep_session=caller_sid)
    late = await client.post(
        "/auth/refresh", json={"refresh_token": renewed.json()["refresh_token"]}
    )
    assert late.status_code == 401
    assert await store.list_sessions(user_id) == []


async def test_attempts_past_their_window_stop_counting_before_the_purge_deletes_them(
    database_url: str,
) -> None:
    """Reservations leave expired attempts to the occasional purge: such a row must neither
    count towards a limit nor be the slot whose expiry a Retry-After names."""
    window = 600
    settings = make_settings(
        database_url, login_max_failures=3, login_failure_window_seconds=window
    )
    async with running(settings) as (app, http):
        await add_user(app, "alice@example.com")

        async def fail() -> int:
            return (await login(http, password="wrong password")).status_code

        assert [await fail() for _ in range(4)] == [400, 400, 400, 429]
        # The window of those three passes, and no purge runs.
        async with app.state.services.engine.begin() as conn:
            await conn.execute(
                update(ThrottleAttempt).values(expires_at=ThrottleAttempt.expires_at - window)
            )
        assert [await fail() for _ in range(4)] == [400, 400, 400, 429]
        throttled = await login(http, password="wrong password")
        assert throttled.status_code == 429
        assert int(throttled.headers["retry-after"]) > window - 60
        async with app.state.services.engine.connect() as conn:
            rows = await conn.scalar(select(func.count()).select_from(ThrottleAttempt))
        assert rows == 2 * (3 + 3)  # account and address buckets, expired ones kept
