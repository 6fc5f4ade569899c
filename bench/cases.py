"""What the benchmark measures: the comparison apps of baselines.py and third_party.py, and
routes of every bake, each app on a server of its own."""

import os
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from importlib import metadata
from pathlib import Path

import httpx
import jwt

from bench import BENCH_DIR, bakes, note
from bench.machine import STACK
from bench.measure import Case
from bench.servers import Server, uvicorn_argv
from bench.session_pool import SessionPools
from bench.token_pool import WARM_UP_MAX, TokenPool, label
from harness import served

# (server name, uvicorn factory in baselines.py, path, description)
BASELINES = [
    ("bare", "bare", "/protected", "bare FastAPI GET, small JSON (the reference)"),
    ("header-dep", "header_only", "/protected", "dependency that only reads the header"),
    ("oauth2-async", "oauth2_async", "/protected", "OAuth2PasswordBearer + jwt.decode, async"),
    ("oauth2-sync", "oauth2_sync", "/protected", "OAuth2PasswordBearer + jwt.decode, sync"),
    ("basehttp-mw", "base_http_middleware", "/protected", "BaseHTTPMiddleware checking JWT"),
    ("asgi-mw", "asgi_middleware", "/protected", "pure ASGI middleware checking JWT"),
    ("load-user", "load_user_sqlite", "/users/me", "verify + load user from SQLite (FST)"),
]
THIRD_PARTY = [
    ("fastapi-users", "fastapi_users_app", "/users/me", "fastapi-users JWT + SQLite /users/me"),
    ("authx", "authx_app", "/protected", "authx protected route"),
]
THIRD_PARTY_PACKAGES = ["fastapi-users[sqlalchemy]", "aiosqlite", "authx"]


def third_party_python(tmp: Path, given: str | None, install: bool) -> str | None:
    """An interpreter with fastapi-users and authx on the template's stack versions: `given`,
    or one installed into a virtualenv in `tmp` if `install`, or None."""
    if given:
        return given
    if not install:
        note("fastapi-users/authx comparison skipped (quick mode or --no-third-party)")
        return None
    venv = tmp / "third-party-venv"
    pins = [f"{name}=={metadata.version(name)}" for name in STACK]
    note("installing fastapi-users and authx into a separate virtualenv (pip, up to 3 min)")
    started = time.perf_counter()
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=60)
        subprocess.run(
            [str(venv / "bin/python"), "-m", "pip", "install", "-q", *pins, *THIRD_PARTY_PACKAGES],
            check=True,
            timeout=180,
            capture_output=True,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        note(f"fastapi-users/authx comparison skipped: pip install failed ({exc})")
        return None
    note(f"fastapi-users and authx installed in {time.perf_counter() - started:.0f} s")
    return str(venv / "bin/python")


def baseline_cases(tmp: Path, python: str | None) -> list[Case]:
    """The comparison apps; the third-party ones only with `python` (see third_party_python)."""
    secret, user_id = secrets.token_urlsafe(48), str(uuid.uuid4())
    env = {
        **os.environ,
        "BENCH_SECRET": secret,
        "BENCH_DB": str(tmp / "baseline.db"),
        "BENCH_USER_ID": user_id,
    }
    now = int(time.time())
    token = jwt.encode({"sub": user_id, "iat": now, "exp": now + 7200}, secret, "HS256")
    cases = []
    for name, factory, path, description in BASELINES:
        argv = uvicorn_argv(f"baselines:{factory}", "--factory", "--app-dir", str(BENCH_DIR))
        ready = "/users/me" if name == "load-user" else "/protected"
        server = Server(name, argv, BENCH_DIR, env, ready, token=_fixed(token))
        cases.append(Case(name, server, path, description))
    if python is None:
        return cases
    for name, factory, path, description in THIRD_PARTY:
        token_file = tmp / f"{name}.token"
        server_env = {
            **env,
            "BENCH_DB": str(tmp / f"{name}.db"),
            "BENCH_TOKEN_FILE": str(token_file),
        }
        argv = uvicorn_argv(
            f"third_party:{factory}", "--factory", "--app-dir", str(BENCH_DIR), python=python
        )
        server = Server(name, argv, BENCH_DIR, server_env, "/docs", token=_read(token_file))
        cases.append(Case(name, server, path, description))
    return cases


def _fixed(token: str) -> Callable[[Server], str]:
    """A comparison app's token: the same for every request, made by the bench."""
    return lambda _server: token


def _read(token_file: Path) -> Callable[[Server], str]:
    """A third-party app's token: written by the library itself once the app is ready."""
    return lambda _server: token_file.read_text()


def template_login(server: Server) -> str:
    response = httpx.post(
        f"{server.url}/auth/login",
        data={"grant_type": "password", "username": bakes.USERNAME, "password": bakes.PASSWORD},
        timeout=30,
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


# The bakes whose refresh and logout are measured, by the store they keep sessions in.
STORE_OF_BAKE = {"HS256": "sqlite", "postgresql": "postgresql", "redis": "redis"}
# What one refresh (a successful rotation) and one logout (a session revoked) write, in one
# transaction: the database store's UPDATE; its UPDATE ... RETURNING, the counter's upsert and
# the revocation's INSERT. Redis: the commands of the rotate and revoke scripts (TIME, HMGET,
# GET, HSET; TIME, HGET, HGET, SREM, DEL, ZADD, ZREMRANGEBYSCORE, EXPIRETIME, PUBLISH).
WRITES = {"sqlite": (1, 3), "postgresql": (1, 3), "redis": (4, 9)}


def template_cases(
    name: str,
    project: Path,
    pools: dict[int, TokenPool],
    env: dict[str, str],
    sessions: SessionPools | None = None,
) -> list[Case]:
    """The routes measured on the bake `name` (its servers given `env`): /protected always,
    /health and /users/me on some, /protected with each of `pools` in rotation, and refresh and
    logout beside the same writes alone when given `sessions`."""
    app = f"{served.package_of(project)}.main:app"
    argv = uvicorn_argv(app, "--app-dir", str(project / "src"))
    server = Server(name, argv, project, env, "/health", token=template_login)
    health = f"{name} /health"
    cases = [Case(f"{name} /protected", server, "/protected", "template", health)]
    if name in ("HS256", "middleware"):
        cases.insert(0, Case(health, server, "/health", "template, public route"))
    if name in ("HS256", "redis"):
        cases.append(Case(f"{name} /users/me", server, "/users/me", "template", health))
    cases += pool_cases(name, server, pools)
    if sessions is not None:
        cases += store_cases(name, project, server, sessions)
    return cases


def store_cases(name: str, project: Path, server: Server, sessions: SessionPools) -> list[Case]:
    """POST /auth/refresh and /auth/logout, each token once, and each beside a bench-only app
    (write_baseline.py) doing the same number of writes in one transaction of the same
    database or Redis: the physical limit of one rotation, of one logout."""
    store = STORE_OF_BAKE[name]
    argv = uvicorn_argv("write_baseline:app", "--factory", "--app-dir", str(BENCH_DIR))
    env = {**server.env, "BENCH_PACKAGE": served.package_of(project)}
    writes = Server(f"{name}-writes", argv, project, env, "/docs", token=_fixed(""))
    kind, unit = ("redis", "commands") if store == "redis" else ("sql", "writes")
    cases = []
    for what, path, pool, count in (
        ("refresh", "/auth/refresh", sessions.refresh, WRITES[store][0]),
        ("logout", "/auth/logout", sessions.logout, WRITES[store][1]),
    ):
        txn = "MULTI/EXEC" if store == "redis" else "transaction"
        ref = f"redis {count}-cmd MULTI" if store == "redis" else f"{store} {count}-write txn"
        description = f"{count} {unit} in one {txn}, nothing else (write_baseline.py)"
        cases.append(Case(ref, writes, f"/{kind}?{unit}={count}", description))
        cases.append(
            Case(
                f"{store} {what}",
                server,
                path,
                f"template, each token once; x ref: {ref}",
                ref,
                spend=pool,
            )
        )
    return cases


def pool_cases(name: str, server: Server, pools: dict[int, TokenPool]) -> list[Case]:
    """/protected with many distinct tokens. Pools the cache holds share the bake's server;
    larger ones (every request a miss) get a server of their own, so they cannot evict the
    small pools' entries and each server's memory tells one story. Where no pool is larger
    (a --quick run mints 1k tokens only), a server with the cache off gives the
    every-request-a-miss figure instead."""
    cases = []
    for count, pool in sorted(pools.items()):
        on = server
        what = "template, tokens in rotation, all cached once warm"
        if count > WARM_UP_MAX:
            on = replace(server, name=f"{name}-{label(count).replace(' ', '-')}")
            what = "template, tokens in rotation, every request a miss"
        cases.append(Case(f"{name} {label(count)}", on, "/protected", what, pool=pool))
    if pools and max(pools) <= WARM_UP_MAX:
        off = replace(
            server, name=f"{name}-cache-off", env={**server.env, "VERIFIED_TOKEN_CACHE_MB": "0"}
        )
        pool = TokenPool(pools[min(pools)].file, min(pools))
        what = "template, VERIFIED_TOKEN_CACHE_MB=0: every request a miss"
        cases.append(Case(f"{name} cache off", off, "/protected", what, pool=pool))
    return cases
