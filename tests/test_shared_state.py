"""Security state shared by several server processes of a bake: login throttling and revocation.

A service scaled out runs several processes, on one host (uvicorn workers) or on several (two
`serve` processes here, one per "host"). Throttling that counts failures in each process's
memory lets an attacker multiply the limit by the number of processes; a revocation that one
process commits must reach every other within REVOCATION_POLL_SECONDS, even when its commit
waited on a lock or when the process that made it has a clock minutes off. Unit tests inside
one process cannot see either, so these tests start real servers of fresh bakes and attack them
over loopback, for each place the state can live:

  sqlite      the default bake; the servers share one SQLite file
  postgresql  database=postgresql; a throwaway database on 127.0.0.1:5432
  redis       token_store=redis (SQLite for users); a key prefix of its own on 127.0.0.1:6379

One bake per backend serves the whole module; every test gets a state of its own (a copy of a
migrated database with the users already in it, and a fresh Redis prefix), because the
per-address throttle counts every failure from 127.0.0.1 and would otherwise carry one test's
failures into the next. Servers and the CLI reach that state through DATABASE_URL and
REDIS_URL/REDIS_KEY_PREFIX.

Races are forced, not hoped for: bursts are fired all at once with asyncio.gather; sequential
attempts alternate between a server's two workers by checking in /proc which one accepted each
new connection; a late commit is made by holding a database lock from the test; a skewed clock
is a sitecustomize.py that shifts time.time() in the child process.

PostgreSQL or Redis unreachable: skipped, or failed when REQUIRE_SERVICES=1 (CI).
"""

import asyncio
import email.utils
import http.client
import os
import secrets
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractContextManager, ExitStack, asynccontextmanager, closing
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlencode, urlsplit

import asyncpg
import httpx
import pytest
import redis
from sqlalchemy.engine import make_url

from harness import bakery, served

ALL_BACKENDS = ("sqlite", "postgresql", "redis")
# Revocation polling of the database store; Redis pushes revocations and is covered by
# the skewed-clock tests.
DATABASE_BACKENDS = ("sqlite", "postgresql")
BAKE_OPTIONS: dict[str, dict[str, object]] = {
    "sqlite": {},
    "postgresql": {"database": "postgresql"},
    "redis": {"token_store": "redis"},
}
POSTGRES = "postgres@127.0.0.1:5432"
# Where throwaway databases are created from and dropped (the database `test` exists).
POSTGRES_ADMIN_DATABASE = "test"
REDIS_URL = "redis://127.0.0.1:6379/0"
SERVICE_TIMEOUT_SECONDS = 5
HTTP_TIMEOUT_SECONDS = 60

ALICE = "alice@example.com"
BOB = "bob@example.com"
# Real accounts; the spray also tries them, among many unknown usernames.
# Passwords `create-user`'s policy accepts: not common, and not containing the username.
USERS = {
    username: f"the right password, number {number}"
    for number, username in enumerate((ALICE, BOB, "carol@example.com"))
}
WRONG_PASSWORD = "not the password"

# LOGIN_MAX_FAILURES' default; set explicitly so a changed .env cannot change the test.
MAX_FAILURES = 10
BURST = 50
SPRAY_MAX_FAILURES_PER_ADDRESS = 20
SEQUENTIAL_ATTEMPTS = 20
# Waiting for a new connection to land on the other worker (the second may still be starting).
OTHER_WORKER_TIMEOUT_SECONDS = 30
ACCEPT_TIMEOUT_SECONDS = 5

POLL_SECONDS = 0.2
REVOCATION_DEADLINE = POLL_SECONDS + 1.0
# A server still accepting a revoked token this long after the deadline is reported as
# never refusing it, so a failing run ends.
GIVE_UP_AFTER_DEADLINE = 2.0
RECHECK_EVERY = 0.02
# Longer than any wall-clock overlap a revocation poll might re-read (the store once used 5 s).
LOCK_HOLD_SECONDS = 7.0
# How long two refreshes of one token are held at the lock, both in flight.
REFRESH_HOLD_SECONDS = 1.5

CLOCK_SKEW_VARIABLE = "CLOCK_SKEW_SECONDS"
SERVER_CLOCK_AHEAD_SECONDS = 300
# Generous: the Date header has one-second resolution and the machine is shared.
CLOCK_CHECK_TOLERANCE_SECONDS = 30
# Put first on a child's PYTHONPATH, this runs before the bake's code: every time.time() call
# there (the token service's, the token stores', uvicorn's Date header) reads a clock
# CLOCK_SKEW_SECONDS off. datetime.now(), which PyJWT's own exp check reads, keeps the true time.
SITECUSTOMIZE = f'''"""Shift time.time() by {CLOCK_SKEW_VARIABLE}: a host whose clock is off."""

import os
import time

_real = time.time
_off = float(os.environ.get("{CLOCK_SKEW_VARIABLE}", "0"))
time.time = lambda: _real() + _off
'''


def service_unavailable(what: str, problem: BaseException) -> NoReturn:
    """Skip when a service is missing, unless REQUIRE_SERVICES=1 says it must be there."""
    message = f"{what} is not reachable: {type(problem).__name__}: {problem}"
    if os.environ.get("REQUIRE_SERVICES") == "1":
        pytest.fail(f"{message} (REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(message)


def postgres_url(database: str) -> str:
    """DATABASE_URL of `database` on the test server, as the bake's settings take it."""
    return f"postgresql+asyncpg://{POSTGRES}/{database}"


async def _postgres_execute(statement: str) -> None:
    connection = await asyncpg.connect(
        f"postgresql://{POSTGRES}/{POSTGRES_ADMIN_DATABASE}", timeout=SERVICE_TIMEOUT_SECONDS
    )
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def postgres_admin(statement: str) -> None:
    """Run a statement outside any transaction (CREATE and DROP DATABASE need that)."""
    asyncio.run(_postgres_execute(statement))


def require_service(backend: str) -> None:
    if backend == "postgresql":
        try:
            postgres_admin("SELECT 1")
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            service_unavailable(f"PostgreSQL on {POSTGRES}", exc)
    elif backend == "redis":
        try:
            with redis.Redis.from_url(REDIS_URL, socket_timeout=SERVICE_TIMEOUT_SECONDS) as client:
                client.ping()
        except (OSError, redis.RedisError) as exc:
            service_unavailable(f"Redis at {REDIS_URL}", exc)


def delete_redis_keys(prefix: str) -> None:
    with redis.Redis.from_url(REDIS_URL, socket_timeout=SERVICE_TIMEOUT_SECONDS) as client:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def copy_sqlite(source: Path, target: Path) -> None:
    """Copy a database with SQLite's backup API: right even if a WAL file is still around."""
    with closing(sqlite3.connect(source)) as original, closing(sqlite3.connect(target)) as copy:
        original.backup(copy)


@dataclass(frozen=True)
class Bake:
    """A bake of one backend, and its blank state: migrated, with USERS in it."""

    backend: str
    project: Path
    package: str
    # SQLite: the blank database file. PostgreSQL: the database each test's is a copy of.
    blank: str


@dataclass(frozen=True)
class World:
    """One test's servers' shared state: a bake plus where its database and Redis keys are."""

    backend: str
    project: Path
    package: str
    env: dict[str, str]
    logs: Path

    def serve(
        self,
        name: str,
        *,
        workers: int = 1,
        pythonpath_first: tuple[Path, ...] = (),
        **settings: str,
    ) -> AbstractContextManager[str]:
        """A server (`name` names its log) on this world's state; the context yields its URL."""
        return served.serving(
            self.project,
            self.logs / f"{name}.log",
            workers=workers,
            pythonpath_first=pythonpath_first,
            **(self.env | settings),
        )

    def cli(
        self, *args: str, stdin: str = "", pythonpath_first: tuple[Path, ...] = (), **env: str
    ) -> None:
        """`python -m <package> ...` on this world's state, as an operator runs it."""
        served.run_cli(
            self.project,
            self.package,
            *args,
            stdin=stdin,
            env=self.env | env,
            pythonpath_first=pythonpath_first,
        )

    def sqlite_file(self) -> Path:
        """The SQLite file DATABASE_URL names, relative to the project like the servers see it."""
        database = make_url(self.env["DATABASE_URL"]).database
        assert database, self.env["DATABASE_URL"]
        return self.project / database

    def postgres_dsn(self) -> str:
        url = make_url(self.env["DATABASE_URL"]).set(drivername="postgresql")
        return url.render_as_string(hide_password=False)

    def assert_no_tracebacks(self) -> None:
        for log in sorted(self.logs.glob("*.log")):
            text = log.read_text(errors="replace")
            assert "Traceback" not in text, f"{log.name}:\n{text[-4000:]}"


@pytest.fixture(scope="module")
def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Bake]:
    """One bake per backend (tests parametrize this indirectly), migrated once with USERS."""
    name: str = request.param
    require_service(name)
    directory = tmp_path_factory.mktemp(f"shared-state-{name}")
    project = bakery.bake(directory, **BAKE_OPTIONS[name])
    package = served.package_of(project)
    with ExitStack() as cleanup:
        if name == "postgresql":
            blank = f"shared_state_blank_{secrets.token_hex(6)}"
            postgres_admin(f'CREATE DATABASE "{blank}"')
            cleanup.callback(postgres_admin, f'DROP DATABASE IF EXISTS "{blank}" WITH (FORCE)')
            env = {"DATABASE_URL": postgres_url(blank)}
        else:
            blank = str(directory / "blank.db")
            # Neither migrate nor create-user opens the token store, so no Redis here.
            env = {"DATABASE_URL": sqlite_url(Path(blank))}
        served.run_cli(project, package, "migrate", env=env)
        served.create_users(project, USERS, env)
        yield Bake(name, project, package, blank)


@pytest.fixture
def world(backend: Bake, tmp_path: Path) -> Iterator[World]:
    """A fresh state for this test: a copy of the blank database, a Redis prefix of its own."""
    env: dict[str, str] = {}
    with ExitStack() as cleanup:
        if backend.backend == "postgresql":
            database = f"shared_state_{secrets.token_hex(6)}"
            # A template copy is far cheaper than migrating again and creating the users.
            postgres_admin(f'CREATE DATABASE "{database}" TEMPLATE "{backend.blank}"')
            cleanup.callback(postgres_admin, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            env["DATABASE_URL"] = postgres_url(database)
        else:
            database_file = tmp_path / "shared.db"
            copy_sqlite(Path(backend.blank), database_file)
            env["DATABASE_URL"] = sqlite_url(database_file)
        if backend.backend == "redis":
            prefix = f"shared-state-{secrets.token_hex(6)}:"
            env |= {"REDIS_URL": REDIS_URL, "REDIS_KEY_PREFIX": prefix}
            cleanup.callback(delete_redis_keys, prefix)
        yield World(backend.backend, backend.project, backend.package, env, tmp_path)


@pytest.fixture(scope="module")
def skewed_clock(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory whose sitecustomize.py skews time.time() by CLOCK_SKEW_SECONDS, proven to
    take effect in a child started the way the servers and the CLI are."""
    directory = tmp_path_factory.mktemp("skewed-clock")
    (directory / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-c", "import time; print(time.time())"],
        env=served.project_env(pythonpath_first=[directory], **{CLOCK_SKEW_VARIABLE: "-600"}),
        capture_output=True,
        text=True,
        check=True,
        timeout=served.CLI_TIMEOUT_SECONDS,
    )
    offset = float(result.stdout) - time.time()
    assert abs(offset + 600) < CLOCK_CHECK_TOLERANCE_SECONDS, (offset, result.stderr)
    return directory


# --- HTTP helpers -----------------------------------------------------------------------------


def http_client() -> httpx.AsyncClient:
    """A client that opens as many connections at once as it is asked for."""
    unlimited = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    return httpx.AsyncClient(timeout=HTTP_TIMEOUT_SECONDS, limits=unlimited)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def password_grant(username: str, password: str) -> dict[str, str]:
    """The token endpoint's form for the password grant (RFC 6749 section 4.3.2)."""
    return {"grant_type": "password", "username": username, "password": password}


async def login_all(attempts: list[tuple[str, str, str]]) -> list[httpx.Response]:
    """POST every (server URL, username, password) to /auth/login at once."""
    async with http_client() as client:
        return await asyncio.gather(
            *(
                client.post(f"{url}/auth/login", data=password_grant(user, password))
                for url, user, password in attempts
            )
        )


async def login(client: httpx.AsyncClient, url: str, username: str) -> str:
    """Log `username` in with the right password; return the access token."""
    response = await client.post(
        f"{url}/auth/login", data=password_grant(username, USERS[username])
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


async def protected_status(client: httpx.AsyncClient, url: str, token: str) -> int:
    return (await client.get(f"{url}/protected", headers=bearer(token))).status_code


async def first_refusal(
    client: httpx.AsyncClient, url: str, token: str, since: float
) -> float | None:
    """Seconds from `since` (monotonic) until `url` first answers 401 for `token`, re-checked
    every RECHECK_EVERY; None if it still accepted the token well past the deadline.

    The figure is an upper bound: it includes the refusing request's own round trip.
    """
    give_up = since + REVOCATION_DEADLINE + GIVE_UP_AFTER_DEADLINE
    while True:
        status = await protected_status(client, url, token)
        received = time.monotonic()
        if status == 401:
            return received - since
        assert status == 200, f"{url}/protected answered {status}"
        if received > give_up:
            return None
        await asyncio.sleep(RECHECK_EVERY)


def assert_refused_in_time(what: str, delays: dict[str, float | None], after: str) -> None:
    """Print each server's measured delay, then assert each is within REVOCATION_DEADLINE."""
    gave_up = REVOCATION_DEADLINE + GIVE_UP_AFTER_DEADLINE
    summary = "; ".join(
        f"{server} still accepted the token {gave_up:.1f}s after {after}"
        if delay is None
        else f"{server} refused the token {delay:.3f}s after {after}"
        for server, delay in delays.items()
    )
    print(f"{what}: {summary}")
    late = [delay for delay in delays.values() if delay is None or delay > REVOCATION_DEADLINE]
    assert not late, f"{what}, deadline {REVOCATION_DEADLINE}s: {summary}"


def assert_throttled(responses: list[httpx.Response], allowed: int, what: str) -> Counter[int]:
    """At most `allowed` attempts were checked (400 invalid_grant), every other one was refused
    with 429 and a Retry-After, none failed with 5xx; at least one was checked (the state was
    fresh)."""
    statuses = Counter(response.status_code for response in responses)
    print(f"{what}: {dict(sorted(statuses.items()))}")
    assert not [status for status in statuses if status >= 500], statuses
    assert set(statuses) <= {400, 429}, statuses
    assert 1 <= statuses[400] <= allowed, (
        f"{statuses[400]} of {len(responses)} {what} got their password checked (400); "
        f"the limit is {allowed}, so the other servers' or requests' failures went uncounted"
    )
    for response in responses:
        if response.status_code == 429:
            assert int(response.headers["Retry-After"]) >= 1, response.headers
    return statuses


# --- Throttling -------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("backend", ALL_BACKENDS, indirect=True)
def test_burst_on_one_account_over_two_servers(world: World) -> None:
    """Fifty parallel wrong passwords for one account, half to each of two servers: the
    account's limit holds in total, not per server or per race, and the lockout then also
    holds against the right password on both."""
    settings = {"LOGIN_MAX_FAILURES": str(MAX_FAILURES)}
    with world.serve("a", **settings) as a, world.serve("b", **settings) as b:
        attempts = [((a, b)[number % 2], ALICE, WRONG_PASSWORD) for number in range(BURST)]
        assert_throttled(asyncio.run(login_all(attempts)), MAX_FAILURES, "wrong passwords")
        right = asyncio.run(login_all([(url, ALICE, USERS[ALICE]) for url in (a, b)]))
    for response in right:
        assert response.status_code == 429, (response.status_code, response.text)
        assert int(response.headers["Retry-After"]) >= 1
    world.assert_no_tracebacks()


@pytest.mark.slow
@pytest.mark.parametrize("backend", ALL_BACKENDS, indirect=True)
def test_spray_over_many_accounts_from_one_address(world: World) -> None:
    """Fifty parallel wrong logins, each for another username (mostly unknown ones), from one
    address over two servers: the per-address limit holds in total."""
    limit = SPRAY_MAX_FAILURES_PER_ADDRESS
    settings = {"LOGIN_MAX_FAILURES_PER_ADDRESS": str(limit)}
    unknown = (f"nobody{number:02d}@example.com" for number in range(BURST - len(USERS)))
    usernames = [*USERS, *unknown]
    with world.serve("a", **settings) as a, world.serve("b", **settings) as b:
        attempts = [
            ((a, b)[number % 2], username, WRONG_PASSWORD)
            for number, username in enumerate(usernames)
        ]
        assert_throttled(asyncio.run(login_all(attempts)), limit, "logins for other usernames")
    world.assert_no_tracebacks()


def _server_socket_inode(server_port: int, client_port: int) -> int:
    """The inode of the server's end of a loopback connection; 0 until it is accepted."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].rsplit(":", 1)[1], 16)
        remote_port = int(fields[2].rsplit(":", 1)[1], 16)
        if (local_port, remote_port) == (server_port, client_port):
            return int(fields[9])
    return 0


def _readlink(path: Path) -> str:
    try:
        return os.readlink(path)
    except OSError:  # closed meanwhile
        return ""


def _socket_holder(inode: int) -> int | None:
    """The pid of a process with the socket `inode` open, if any."""
    target = f"socket:[{inode}]"
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        try:
            fds = list(fd_dir.iterdir())
        except OSError:  # the process ended, or is not ours to look at
            continue
        if any(_readlink(fd) == target for fd in fds):
            return int(fd_dir.parent.name)
    return None


def accepting_worker(server_port: int, client_port: int) -> int:
    """The pid of the worker process that accepted this connection."""
    deadline = time.monotonic() + ACCEPT_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        inode = _server_socket_inode(server_port, client_port)
        if inode and (pid := _socket_holder(inode)) is not None:
            return pid
        time.sleep(0.005)
    raise AssertionError(f"no process accepted the connection from port {client_port}")


def connect_to_another_worker(
    url: str, previous: int | None
) -> tuple[http.client.HTTPConnection, int]:
    """A new connection that a worker other than `previous` accepted, and that worker's pid.

    Which worker accepts is up to the kernel; connections to the same one are closed and
    replaced, so consecutive requests alternate between the workers by construction.
    """
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    deadline = time.monotonic() + OTHER_WORKER_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        connection = http.client.HTTPConnection(
            parts.hostname, parts.port, timeout=HTTP_TIMEOUT_SECONDS
        )
        connection.connect()
        worker = accepting_worker(parts.port, connection.sock.getsockname()[1])
        if worker != previous:
            return connection, worker
        connection.close()
    raise AssertionError(f"for {OTHER_WORKER_TIMEOUT_SECONDS}s only worker {previous} accepted")


@pytest.mark.slow
@pytest.mark.parametrize("backend", ALL_BACKENDS, indirect=True)
def test_sequential_failures_alternating_between_workers(world: World) -> None:
    """Twenty wrong passwords one after another, each on a new connection, alternating between
    a server's two workers: exactly LOGIN_MAX_FAILURES are checked, then every one is refused."""
    if not Path("/proc/net/tcp").exists():
        pytest.skip("needs Linux's /proc to see which worker accepted a connection")
    statuses: list[int] = []
    workers: list[int] = []
    body = urlencode(password_grant(ALICE, WRONG_PASSWORD))
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Connection": "close"}
    settings = {"LOGIN_MAX_FAILURES": str(MAX_FAILURES)}
    with world.serve("server", workers=2, **settings) as url:
        for _ in range(SEQUENTIAL_ATTEMPTS):
            connection, worker = connect_to_another_worker(url, workers[-1] if workers else None)
            workers.append(worker)
            try:
                connection.request("POST", "/auth/login", body=body, headers=headers)
                response = connection.getresponse()
                response.read()
            finally:
                connection.close()
            statuses.append(response.status)
            if response.status == 429:
                assert int(response.getheader("Retry-After", "0")) >= 1
    print(f"statuses in order: {statuses}; workers: {workers}")
    assert len(set(workers)) == 2, workers
    expected = [400] * MAX_FAILURES + [429] * (SEQUENTIAL_ATTEMPTS - MAX_FAILURES)
    assert statuses == expected, f"statuses in order: {statuses}"
    world.assert_no_tracebacks()


# --- Revocation -------------------------------------------------------------------------------


@asynccontextmanager
async def writers_locked(world: World) -> AsyncIterator[None]:
    """Hold the database so that no other connection can write until the context ends; plain
    reads (the servers' revocation polls, say) go on. Ends with a rollback.

    SQLite: BEGIN IMMEDIATE takes the one write lock. PostgreSQL: EXCLUSIVE locks on every
    table of the schema (auth_sessions and whatever else a revocation might write), which
    conflict with writes but not with SELECT.
    """
    if world.backend == "sqlite":
        connection = sqlite3.connect(world.sqlite_file(), isolation_level=None)
        try:
            connection.execute("BEGIN IMMEDIATE")
            yield
            connection.execute("ROLLBACK")
        finally:
            connection.close()
        return
    postgres = await asyncpg.connect(world.postgres_dsn(), timeout=SERVICE_TIMEOUT_SECONDS)
    try:
        transaction = postgres.transaction()
        await transaction.start()
        rows = await postgres.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        tables = [f'"{row["tablename"]}"' for row in rows]
        assert '"auth_sessions"' in tables, tables
        await postgres.execute(f"LOCK TABLE {', '.join(tables)} IN EXCLUSIVE MODE")
        yield
        await transaction.rollback()
    finally:
        await postgres.close()


async def logout_committed_late(world: World, a: str, b: str) -> tuple[float | None, int]:
    """Log in on A, log out on A while the database is locked; return how long after the
    logout's 204 B refused the token (None: it did not), and A's answer to the token then."""
    async with http_client() as client:
        token = await login(client, a, ALICE)
        assert await protected_status(client, b, token) == 200

        async def logout() -> tuple[httpx.Response, float]:
            response = await client.post(f"{a}/auth/logout", headers=bearer(token))
            return response, time.monotonic()

        async with writers_locked(world):
            pending = asyncio.create_task(logout())
            await asyncio.sleep(LOCK_HOLD_SECONDS)
            # The interleaving this test is about: the revocation's transaction is still
            # waiting for the lock, long after the logout began.
            assert not pending.done(), f"the logout did not wait for the lock: {await pending}"
        response, logged_out = await pending
        assert response.status_code == 204, (response.status_code, response.text)
        delay = await first_refusal(client, b, token, since=logged_out)
        return delay, await protected_status(client, a, token)


@pytest.mark.slow
@pytest.mark.parametrize("backend", DATABASE_BACKENDS, indirect=True)
def test_revocation_committed_late_reaches_the_other_server(world: World) -> None:
    """A logout whose transaction commits seconds after it started (it waited for a lock held
    by another connection) still reaches the other server within REVOCATION_POLL_SECONDS + 1 s
    of its 204: a poll that only re-reads a window of recent wall-clock time misses it."""
    settings = {"REVOCATION_POLL_SECONDS": str(POLL_SECONDS)}
    with world.serve("a", **settings) as a, world.serve("b", **settings) as b:
        delay, status_on_a = asyncio.run(logout_committed_late(world, a, b))
    what = f"{world.backend}, logout on A waited {LOCK_HOLD_SECONDS:.0f}s for a lock"
    assert_refused_in_time(what, {"B": delay}, "the logout's 204")
    assert status_on_a == 401
    world.assert_no_tracebacks()


async def refreshes_queued_on_a_lock(world: World, a: str, b: str) -> tuple[list[int], int]:
    """Log in on A, then send its refresh token to A and to B at once while the database is
    locked, so that both rotations are in flight and wait for the lock; return both answers,
    and the answer to a refresh with the winner's new refresh token."""
    async with http_client() as client:
        grant = password_grant(ALICE, USERS[ALICE])
        logged_in = await client.post(f"{a}/auth/login", data=grant)
        assert logged_in.status_code == 200, logged_in.text
        body = {"refresh_token": logged_in.json()["refresh_token"]}
        async with writers_locked(world):
            pending = [
                asyncio.create_task(client.post(f"{url}/auth/refresh", json=body)) for url in (a, b)
            ]
            await asyncio.sleep(REFRESH_HOLD_SECONDS)
            # The interleaving this test is about: both rotations of the one token are
            # waiting for the lock at the same time.
            assert not any(task.done() for task in pending), [
                (task.result().status_code, task.result().text) for task in pending if task.done()
            ]
        responses = await asyncio.gather(*pending)
        winners = [response for response in responses if response.status_code == 200]
        after = 0
        if winners:
            again = {"refresh_token": winners[0].json()["refresh_token"]}
            after = (await client.post(f"{a}/auth/refresh", json=again)).status_code
        return sorted(response.status_code for response in responses), after


@pytest.mark.slow
@pytest.mark.parametrize("backend", DATABASE_BACKENDS, indirect=True)
def test_one_refresh_token_sent_to_two_servers_at_once_rotates_once(world: World) -> None:
    """Two servers rotate the same refresh token, both held at the database's lock until
    both are in flight: one rotation wins, the other finds its token spent, which is reuse,
    so the whole session ends and the winner's new refresh token is refused too."""
    with world.serve("a") as a, world.serve("b") as b:
        statuses, after = asyncio.run(refreshes_queued_on_a_lock(world, a, b))
    assert statuses == [200, 401]
    assert after == 401
    world.assert_no_tracebacks()


async def revoke_with_skewed_cli(
    world: World, servers: tuple[str, str], skew: int, skewed_clock: Path
) -> dict[str, float | None]:
    """Log ALICE and BOB in on the second server; end ALICE's sessions with `deactivate-user`
    and BOB's with `set-password`, each run with its clock `skew` seconds off; return how long
    after each command exited each server refused the user's token."""
    delays: dict[str, float | None] = {}
    async with http_client() as client:
        tokens = {user: await login(client, servers[1], user) for user in (ALICE, BOB)}
        for token in tokens.values():
            for url in servers:
                assert await protected_status(client, url, token) == 200
        commands = {
            ALICE: (("deactivate-user", ALICE), ""),
            BOB: (("set-password", BOB, "--password-stdin"), "a new password for bob\n"),
        }
        for user, (args, stdin) in commands.items():
            await asyncio.to_thread(
                world.cli,
                *args,
                stdin=stdin,
                pythonpath_first=(skewed_clock,),
                **{CLOCK_SKEW_VARIABLE: str(skew)},
            )
            exited = time.monotonic()
            refusals = await asyncio.gather(
                *(first_refusal(client, url, tokens[user], since=exited) for url in servers)
            )
            for name, delay in zip("AB", refusals, strict=True):
                delays[f"{name} ({args[0]})"] = delay
    return delays


@pytest.mark.slow
@pytest.mark.parametrize("skew", [-600, 600], ids=["cli-clock-behind", "cli-clock-ahead"])
@pytest.mark.parametrize("backend", ALL_BACKENDS, indirect=True)
def test_revocation_by_cli_with_skewed_clock(world: World, skew: int, skewed_clock: Path) -> None:
    """An operator's `deactivate-user` and `set-password`, run on a host whose clock is ten
    minutes off, end the user's sessions on both servers within REVOCATION_POLL_SECONDS + 1 s
    of the command's exit: no server may order revocations by the revoking process's clock."""
    settings = {"REVOCATION_POLL_SECONDS": str(POLL_SECONDS)}
    with world.serve("a", **settings) as a, world.serve("b", **settings) as b:
        delays = asyncio.run(revoke_with_skewed_cli(world, (a, b), skew, skewed_clock))
    what = f"{world.backend}, CLI clock {skew:+d}s"
    assert_refused_in_time(what, delays, "the command exited")
    world.assert_no_tracebacks()


async def logout_on_server_ahead(a: str, b: str) -> tuple[float, float | None, int]:
    """Log in on B, log out on A (whose clock is ahead); return A's clock offset as its Date
    header shows it, how long after the 204 B refused the token, and A's answer then."""
    async with http_client() as client:
        health = await client.get(f"{a}/health")
        offset = email.utils.parsedate_to_datetime(health.headers["date"]).timestamp() - time.time()
        token = await login(client, b, ALICE)
        # A's clock is ahead, but by less than the token's 15 minutes: A takes it.
        assert await protected_status(client, a, token) == 200
        response = await client.post(f"{a}/auth/logout", headers=bearer(token))
        logged_out = time.monotonic()
        assert response.status_code == 204, (response.status_code, response.text)
        delay = await first_refusal(client, b, token, since=logged_out)
        return offset, delay, await protected_status(client, a, token)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ALL_BACKENDS, indirect=True)
def test_logout_on_server_with_clock_ahead(world: World, skewed_clock: Path) -> None:
    """A server whose clock is five minutes ahead logs a session out: the other server, with
    the right time, refuses the token within REVOCATION_POLL_SECONDS + 1 s all the same."""
    settings = {"REVOCATION_POLL_SECONDS": str(POLL_SECONDS)}
    ahead = {CLOCK_SKEW_VARIABLE: str(SERVER_CLOCK_AHEAD_SECONDS)}
    with (
        world.serve("a", pythonpath_first=(skewed_clock,), **settings, **ahead) as a,
        world.serve("b", **settings) as b,
    ):
        offset, delay, status_on_a = asyncio.run(logout_on_server_ahead(a, b))
    # The skew took effect in A itself: uvicorn's Date header reads time.time().
    assert abs(offset - SERVER_CLOCK_AHEAD_SECONDS) < CLOCK_CHECK_TOLERANCE_SECONDS, offset
    what = f"{world.backend}, logout on A with its clock {offset:+.0f}s"
    assert_refused_in_time(what, {"B": delay}, "the logout's 204")
    assert status_on_a == 401
    world.assert_no_tracebacks()
