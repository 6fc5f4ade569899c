"""The Redis token store: shared across workers, atomic, self-expiring, and failing closed."""

import asyncio
import contextlib
import secrets
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import redis
from fastapi import FastAPI
from sqlalchemy import update

from {{ cookiecutter.package_name }}.auth.stores.interface import NewSession, RotateOutcome
from {{ cookiecutter.package_name }}.auth.stores.redis import (
    RedisTokenStore,
    RevocationViewStaleError,
    SyncedRevokedSessions,
)
from {{ cookiecutter.package_name }}.config import Settings, SettingsError, load_settings
from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.security.tokens import IssuedTokens
from {{ cookiecutter.package_name }}.users.models import User

from conftest import bearer, client_for, login, make_settings, services_of
from required_services import require_service
from store_redis import REDIS_KEY_PREFIX

UNAVAILABLE = {"detail": "Service temporarily unavailable"}
# The user of the sessions started straight in the stores below: a rotation reads its user
# from the database (`stores` adds this one), and refuses one that is not there.
USER_1 = str(uuid.UUID(int=1))


def tokens_for(user: User) -> IssuedTokens:
    """Stands in for the service's token maker: the user the rotation found, id and name, in
    place of the signed tokens."""
    return IssuedTokens(str(user.id), user.username, "token-id", 900, "session-1", "")


# Whose refresh these tests make, where it comes from, as the store records it, and what
# makes its tokens.
USED: dict[str, Any] = {
    "user_id": USER_1,
    "client": "127.0.0.1",
    "user_agent": "test",
    "make_tokens": tokens_for,
}


def new_session(
    user_id: str = USER_1,
    session_id: str = "session-1",
    *,
    ends_in: int = 60,
    credentials_version: int = 0,
) -> NewSession:
    return NewSession(
        user_id,
        session_id,
        "token-0",
        int(time.time()) + ends_in,
        credentials_version,
        client="127.0.0.1",
        user_agent="test",
    )


async def outcome(store: RedisTokenStore, session_id: str, old: str, new: str) -> RotateOutcome:
    """What rotating `old` to `new` in `session_id` of USER_1 comes to."""
    return (await store.rotate(session_id, old, new, **USED)).outcome


@pytest.fixture
async def other_app(settings: Settings) -> AsyncIterator[FastAPI]:
    """A second worker: same settings, its own memory, its own Redis connections."""
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


async def _wait_for_status(
    client: httpx.AsyncClient, token: str, status: int, within: float
) -> httpx.Response:
    deadline = time.monotonic() + within
    while True:
        response = await client.get("/protected", headers=bearer(token))
        if response.status_code == status:
            return response
        assert time.monotonic() < deadline, f"still {response.status_code} after {within} s"
        await asyncio.sleep(0.02)


async def test_logout_everywhere_reaches_another_worker_within_a_second(
    other_app: FastAPI, client: httpx.AsyncClient, user_id: str
) -> None:
    first, second = (await login(client)).json(), (await login(client)).json()
    async with client_for(other_app) as other:
        for tokens in (first, second):
            assert (
                await other.get("/protected", headers=bearer(tokens["access_token"]))
            ).is_success
        logout_all = await client.post("/auth/logout-all", headers=bearer(first["access_token"]))
        assert logout_all.status_code == 204
        for tokens in (first, second):
            await _wait_for_status(other, tokens["access_token"], 401, within=1.0)
            refresh = await other.post(
                "/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
            )
            assert refresh.status_code == 401


@pytest.fixture
async def stores(settings: Settings, app: FastAPI) -> AsyncIterator[list[RedisTokenStore]]:
    """The token stores of two workers, used directly, on the app's database with USER_1."""
    async with services_of(app).sessionmaker() as db:
        db.add(User(id=uuid.UUID(USER_1), username="one", username_key="one", password_hash="-"))
        await db.commit()
    engine = services_of(app).sessionmaker.kw["bind"]
    opened = [
        RedisTokenStore(
            settings.redis_url,
            SyncedRevokedSessions(stale_after=5.0),
            engine,
            key_prefix=settings.redis_key_prefix,
            access_ttl=settings.access_token_seconds,
            poll_seconds=settings.revocation_poll_seconds,
        )
        for _ in range(2)
    ]
    async with contextlib.AsyncExitStack() as stack:
        for store in opened:
            await store.open()
            stack.push_async_callback(store.close)
        yield opened


async def test_concurrent_rotations_of_one_token_succeed_exactly_once(
    stores: list[RedisTokenStore],
) -> None:
    assert await stores[0].start_session(new_session())
    rotations = await asyncio.gather(
        *(stores[i % 2].rotate("session-1", "token-0", f"token-{i + 1}", **USED) for i in range(10))
    )
    outcomes = [rotation.outcome for rotation in rotations]
    assert outcomes.count(RotateOutcome.ROTATED) == 1
    # The first loser presented a token that had just been spent: reuse, session revoked;
    # after that the session is gone for everyone.
    assert outcomes.count(RotateOutcome.REUSED) == 1
    assert outcomes.count(RotateOutcome.INVALID) == 8
    winner = f"token-{outcomes.index(RotateOutcome.ROTATED) + 1}"
    assert await outcome(stores[1], "session-1", winner, "token-99") is RotateOutcome.INVALID


async def test_a_rotation_reads_its_user_and_ends_the_session_of_an_inactive_one(
    stores: list[RedisTokenStore], app: FastAPI
) -> None:
    assert await stores[0].start_session(new_session())
    rotated = await stores[0].rotate("session-1", "token-0", "token-1", **USED)
    assert rotated.outcome is RotateOutcome.ROTATED
    assert rotated.tokens is not None
    assert (rotated.tokens.access_token, rotated.tokens.refresh_token) == (USER_1, "one")

    async def set_active(active: bool) -> None:
        # By hand, as an operator might: no credentials version raised, nothing told Redis.
        async with services_of(app).sessionmaker() as db:
            await db.execute(update(User).values(is_active=active))
            await db.commit()

    await set_active(False)
    refused = await stores[1].rotate("session-1", "token-1", "token-2", **USED)
    assert (refused.outcome, refused.tokens) == (RotateOutcome.INVALID, None)
    # The session ended, not just this refresh: reactivated, its token still works no more.
    await set_active(True)
    again = await stores[0].rotate("session-1", "token-1", "token-2", **USED)
    assert again.outcome is RotateOutcome.INVALID


async def test_a_retried_rotation_is_not_mistaken_for_reuse(
    stores: list[RedisTokenStore],
) -> None:
    assert await stores[0].start_session(new_session())
    assert await outcome(stores[0], "session-1", "token-0", "token-1") is RotateOutcome.ROTATED
    # The same call again, as redis-py's retry sends it when the first reply was lost.
    assert await outcome(stores[0], "session-1", "token-0", "token-1") is RotateOutcome.ROTATED
    assert await outcome(stores[1], "session-1", "token-1", "token-2") is RotateOutcome.ROTATED


async def test_an_expired_session_cannot_rotate(stores: list[RedisTokenStore]) -> None:
    assert await stores[0].start_session(new_session(ends_in=-1))
    assert await outcome(stores[0], "session-1", "token-0", "token-1") is RotateOutcome.INVALID


async def test_no_session_starts_under_credentials_older_than_a_change(
    stores: list[RedisTokenStore],
) -> None:
    """A login checked against version 0 that finishes after a change to version 1, made
    through another worker, must not start its session."""
    await stores[1].revoke_user(USER_1, credentials_version=1)
    assert not await stores[0].start_session(new_session(credentials_version=0))
    assert await stores[0].start_session(new_session(USER_1, "session-2", credentials_version=1))


async def test_a_session_of_older_credentials_cannot_rotate(
    stores: list[RedisTokenStore], redis_client: redis.Redis
) -> None:
    assert await stores[0].start_session(new_session(credentials_version=0))
    # The version raised without the revocation that normally comes with it (say the
    # revocation half of a change failed): the rotation check still catches the session.
    redis_client.set(f"{REDIS_KEY_PREFIX}credentials:{USER_1}", 1)
    assert await outcome(stores[1], "session-1", "token-0", "token-1") is RotateOutcome.INVALID


async def test_the_users_index_outlives_every_session_it_lists(
    stores: list[RedisTokenStore], redis_client: redis.Redis
) -> None:
    """After REFRESH_TOKEN_DAYS is lowered, a newer session ends sooner than an older one:
    the index must still list the older one for logout-all, password change and deactivate."""
    assert await stores[0].start_session(new_session(session_id="long", ends_in=86400))
    assert await stores[0].start_session(new_session(session_id="short", ends_in=60))
    index_expires = redis_client.expiretime(f"{REDIS_KEY_PREFIX}user:{USER_1}")
    session_expires = redis_client.expiretime(f"{REDIS_KEY_PREFIX}session:long")
    assert index_expires >= session_expires > time.time() + 86400
    await stores[1].revoke_user(USER_1)
    assert await outcome(stores[0], "long", "token-0", "token-1") is RotateOutcome.INVALID


async def test_the_store_enforces_the_absolute_end_too(
    client: httpx.AsyncClient, tokens: dict[str, str], redis_client: redis.Redis
) -> None:
    session_id = jwt.decode(tokens["refresh_token"], options={"verify_signature": False})["sid"]
    redis_client.hset(f"{REDIS_KEY_PREFIX}session:{session_id}", "expires_at", int(time.time()) - 1)
    refresh = await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refresh.status_code == 401


async def test_revoking_another_users_session_does_nothing(
    stores: list[RedisTokenStore],
) -> None:
    assert await stores[0].start_session(new_session())
    await stores[0].revoke_session("session-1", "user-2")
    assert await outcome(stores[1], "session-1", "token-0", "token-1") is RotateOutcome.ROTATED


async def test_reuse_on_one_worker_revokes_the_session_on_another(
    client: httpx.AsyncClient, other_app: FastAPI, tokens: dict[str, str]
) -> None:
    async with client_for(other_app) as other:
        fresh = await other.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert fresh.status_code == 200
        reuse = await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert reuse.status_code == 401
        await _wait_for_status(other, fresh.json()["access_token"], 401, within=1.0)
        again = await other.post(
            "/auth/refresh", json={"refresh_token": fresh.json()["refresh_token"]}
        )
        assert again.status_code == 401


async def test_login_throttling_is_shared_between_workers(database_url: str, user_id: str) -> None:
    settings = make_settings(database_url, login_max_failures=3)
    workers = [create_app(settings), create_app(settings)]
    async with (
        workers[0].router.lifespan_context(workers[0]),
        workers[1].router.lifespan_context(workers[1]),
        client_for(workers[0]) as first,
        client_for(workers[1]) as second,
    ):
        for _ in range(3):
            assert (await login(first, password="wrong password")).status_code == 400
        throttled = await login(second)
        assert throttled.status_code == 429
        assert "access_token" not in throttled.text


async def test_every_key_expires_by_itself(
    client: httpx.AsyncClient,
    settings: Settings,
    tokens: dict[str, str],
    redis_client: redis.Redis,
) -> None:
    await login(client, password="wrong password")
    other = (await login(client)).json()
    await client.post(
        "/auth/logout",
        headers=bearer(other["access_token"]),
        json={"refresh_token": other["refresh_token"]},
    )
    keys = list(redis_client.scan_iter(match=f"{REDIS_KEY_PREFIX}*"))
    assert len(keys) >= 4  # a session, the user's set, the revoked list, a throttle counter
    longest = settings.refresh_token_seconds + settings.access_token_seconds + 60
    for key in keys:
        assert 0 < redis_client.ttl(key) <= longest, key


def test_a_stale_revocation_view_refuses_to_answer() -> None:
    view = SyncedRevokedSessions(stale_after=0.5)
    with pytest.raises(RevocationViewStaleError):
        view.is_revoked("never-synced")
    view.confirm(time.monotonic())
    assert view.is_revoked("some-session") is False
    view.invalidate()
    with pytest.raises(RevocationViewStaleError):
        view.is_revoked("some-session")


def test_a_redis_url_that_is_not_redis_stops_the_app_naming_the_setting() -> None:
    with pytest.raises(SettingsError, match="REDIS_URL"):
        load_settings(secret_key=secrets.token_urlsafe(48), redis_url="http://127.0.0.1:6379")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_an_unreachable_redis_gives_503_not_500_and_not_a_pass(
    database_url: str, tokens: dict[str, str]
) -> None:
    settings = make_settings(database_url, redis_url=f"redis://127.0.0.1:{_free_port()}/0")
    cut_off = create_app(settings)
    async with cut_off.router.lifespan_context(cut_off), client_for(cut_off) as client:
        responses = [
            await client.get("/protected", headers=bearer(tokens["access_token"])),
            await client.get("/users/me", headers=bearer(tokens["access_token"])),
            await login(client),
            await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]}),
        ]
        for response in responses:
            assert response.status_code == 503
            assert response.json() == UNAVAILABLE
        assert (await client.get("/health")).status_code == 200


class RedisServer:
    """A redis-server of our own, so that a test can crash it and bring it back."""

    def __init__(self, directory: Path) -> None:
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._directory = directory
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        # An fsync per write: what a crash loses must be nothing, as in a production setup.
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--dir", str(self._directory), "--appendonly", "yes", "--save", ""]
        command += ["--appendfsync", "always"]
        self._process = subprocess.Popen(  # noqa: S603 (fixed arguments, our own binary)
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        while True:
            try:
                client.ping()
                client.close()
                return
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)

    def crash(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        require_service("redis-server is not installed, so Redis cannot be crashed and restarted")
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.crash()


async def test_redis_going_down_fails_closed_and_service_comes_back_by_itself(
    database_url: str, user_id: str, redis_server: RedisServer
) -> None:
    # Long enough that a CPU-starved test machine does not miss two proofs before the crash.
    settings = make_settings(database_url, redis_url=redis_server.url, revocation_poll_seconds=0.5)
    application = create_app(settings)
    async with application.router.lifespan_context(application), client_for(application) as client:
        kept, ended = (await login(client)).json(), (await login(client)).json()
        await client.post("/auth/logout", headers=bearer(ended["access_token"]))
        assert (await client.get("/protected", headers=bearer(kept["access_token"]))).is_success

        redis_server.crash()
        down = await _wait_for_status(client, kept["access_token"], 503, within=3.0)
        assert down.json() == UNAVAILABLE
        assert down.headers["retry-after"] == "1"
        assert (
            await client.get("/protected", headers=bearer(ended["access_token"]))
        ).status_code == 503
        assert (await login(client)).status_code == 503
        refresh = await client.post("/auth/refresh", json={"refresh_token": kept["refresh_token"]})
        assert refresh.status_code == 503
        assert refresh.json() == UNAVAILABLE

        redis_server.start()
        await _wait_for_status(client, kept["access_token"], 200, within=5.0)
        # Nothing was forgotten: the logout before the crash still holds.
        assert (
            await client.get("/protected", headers=bearer(ended["access_token"]))
        ).status_code == 401
        assert (
            await client.post("/auth/refresh", json={"refresh_token": kept["refresh_token"]})
        ).status_code == 200
        assert (await login(client)).status_code == 200


async def test_revoking_a_user_keeps_only_the_session_that_changed_the_password(
    stores: list[RedisTokenStore],
) -> None:
    for session_id in ("caller", "other"):
        assert await stores[0].start_session(new_session(session_id=session_id))
    await stores[1].revoke_user(USER_1, credentials_version=1, keep_session="caller")
    assert await outcome(stores[0], "caller", "token-0", "token-1") is RotateOutcome.ROTATED
    assert await outcome(stores[0], "other", "token-0", "token-1") is RotateOutcome.INVALID
    assert [session.session_id for session in await stores[1].list_sessions(USER_1)] == ["caller"]
    # Another change came in between (version 2): the caller's session, still at 1, is not
    # the one the change at version 3 replaced, and ends with the rest.
    await stores[1].revoke_user(USER_1, credentials_version=3, keep_session="caller")
    assert await outcome(stores[0], "caller", "token-1", "token-2") is RotateOutcome.INVALID
    assert await stores[1].list_sessions(USER_1) == []
