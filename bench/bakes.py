"""The template's variants the benchmark measures: baked, migrated, given the bench user."""

import asyncio
import secrets
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench import note
from harness import bakery, served

USERNAME = "bench"
PASSWORD = secrets.token_urlsafe(16)
# A login holds a slot of its account's throttle while it hashes (a success gives it back
# after), so the storm's 16 concurrent logins of one user need a limit above 16. Access
# tokens live 2 hours: the token pools are minted before a run that can outlast 15 minutes.
SETTINGS = {"LOGIN_MAX_FAILURES": "1000", "ACCESS_TOKEN_MINUTES": "120"}
REDIS = (served.LOOPBACK, 6379)
POSTGRES = (served.LOOPBACK, 5432)
POSTGRES_ADMIN_URL = f"postgresql://postgres@{POSTGRES[0]}:{POSTGRES[1]}/postgres"
# One run's own names: other runs and the template's tests share the same servers.
RUN_ID = secrets.token_hex(4)
POSTGRES_DATABASE = f"jwt_bench_{RUN_ID}"

# (name, extra cookiecutter answers). Variants the template refuses to bake yet are skipped.
BAKES: list[tuple[str, dict[str, object]]] = [
    ("HS256", {}),
    ("EdDSA", {"jwt_algorithm": "EdDSA"}),
    ("ES256", {"jwt_algorithm": "ES256"}),
    ("RS256", {"jwt_algorithm": "RS256"}),
    ("middleware", {"use_middleware": True}),
    ("redis", {"token_store": "redis"}),
    ("postgresql", {"database": "postgresql"}),
]
# Settings of a variant beyond SETTINGS: its own database or key prefix.
VARIANT_SETTINGS: dict[str, dict[str, str]] = {
    "redis": {"REDIS_KEY_PREFIX": f"jwt-bench-{RUN_ID}:"},
    "postgresql": {
        "DATABASE_URL": f"postgresql+asyncpg://postgres@{POSTGRES[0]}:{POSTGRES[1]}/"
        + POSTGRES_DATABASE
    },
}


@dataclass(frozen=True)
class Baked:
    projects: dict[str, Path]  # by variant name; "HS256" is the default bake
    seconds: float  # the default bake's time inside cookiecutter
    # Settings of each variant beyond SETTINGS (VARIANT_SETTINGS), for its servers and tools.
    settings: dict[str, dict[str, str]] = field(default_factory=dict)

    def env(self, name: str) -> dict[str, str]:
        return server_env(self.settings.get(name, {}))


@dataclass(frozen=True)
class Suite:
    seconds: float  # wall time, interpreter start included
    summary: str  # pytest's last line


def server_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a bake's commands and servers, run from the project directory: the
    bake's own Argon2 parameters (a login's cost is measured), SETTINGS and `extra`."""
    return served.project_env(cheap_hashing=False) | SETTINGS | (extra or {})


def _is_up(address: tuple[str, int]) -> bool:
    try:
        socket.create_connection(address, timeout=1).close()
    except OSError:
        return False
    return True


async def _postgres_admin(statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=10)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def create_postgres_database() -> None:
    asyncio.run(_postgres_admin(f"CREATE DATABASE {POSTGRES_DATABASE}"))


def drop_postgres_database() -> None:
    """Drop this run's database, if it made one (its servers must be stopped)."""
    try:
        asyncio.run(_postgres_admin(f"DROP DATABASE IF EXISTS {POSTGRES_DATABASE} WITH (FORCE)"))
    except (OSError, ImportError) as exc:
        note(f"could not drop PostgreSQL database {POSTGRES_DATABASE}: {exc}")


def drop_redis_keys() -> None:
    """Delete this run's Redis keys (its prefix): sessions expire by themselves, but the write
    baseline's rows and the revocation log would stay."""
    if not _is_up(REDIS):
        return
    try:
        import redis
    except ImportError:
        return

    prefix = VARIANT_SETTINGS["redis"]["REDIS_KEY_PREFIX"]
    try:
        with redis.Redis(host=REDIS[0], port=REDIS[1], socket_timeout=10) as client:
            keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
            for start in range(0, len(keys), 1000):
                client.delete(*keys[start : start + 1000])
    except redis.RedisError as exc:
        note(f"could not delete Redis keys {prefix}*: {exc}")


def prepare(project: Path, extra: dict[str, str] | None = None) -> None:
    """Migrate the bake's database and create the benchmark user, through its own CLI."""
    package = served.package_of(project)
    env = SETTINGS | (extra or {})
    served.run_cli(project, package, "migrate", env=env, cheap_hashing=False)
    served.run_cli(
        *(project, package, "create-user", USERNAME, "--password-stdin"),
        stdin=PASSWORD + "\n",
        env=env,
        cheap_hashing=False,
    )


def bake_variants(template: Path, tmp: Path, wanted: set[str] | None) -> Baked:
    """Bake, migrate and prepare each variant in BAKES (those in `wanted`, if given)."""
    projects: dict[str, Path] = {}
    settings: dict[str, dict[str, str]] = {}
    seconds = 0.0
    for name, answers in BAKES:
        if wanted is not None and name not in wanted:
            continue
        bake = bakery.timed_bake(template, tmp / f"bake-{name}", answers)
        if bake.project is None:
            note(f"variant {name} skipped: {bake.error}")
            continue
        if name == "redis" and not _is_up(REDIS):
            note(f"variant redis skipped: no Redis on {REDIS[0]}:{REDIS[1]}")
            continue
        if name == "postgresql":
            if not _is_up(POSTGRES):
                note(f"variant postgresql skipped: no PostgreSQL on {POSTGRES[0]}:{POSTGRES[1]}")
                continue
            create_postgres_database()
        if name == "HS256":
            seconds = bake.seconds
        settings[name] = VARIANT_SETTINGS.get(name, {})
        prepare(bake.project, settings[name])
        projects[name] = bake.project
        print(f"  {name}: baked in {bake.seconds:.2f} s", flush=True)
    return Baked(projects, seconds, settings)


def run_suite(project: Path) -> Suite:
    """Wall time of the baked project's own pytest run, and its summary line."""
    started = time.perf_counter()
    result = bakery.run_in(
        project,
        *(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"),
        PYTHONPATH="src",
    )
    seconds = time.perf_counter() - started
    lines = result.stdout.strip().splitlines()
    return Suite(seconds, lines[-1] if lines else result.stderr.strip()[-200:])
