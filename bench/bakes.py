"""The template's variants the benchmark measures: baked, migrated, given the bench user."""

import secrets
import socket
import sys
import time
from dataclasses import dataclass
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

# (name, extra cookiecutter answers). Variants the template refuses to bake yet are skipped.
BAKES: list[tuple[str, dict[str, object]]] = [
    ("HS256", {}),
    ("EdDSA", {"jwt_algorithm": "EdDSA"}),
    ("ES256", {"jwt_algorithm": "ES256"}),
    ("RS256", {"jwt_algorithm": "RS256"}),
    ("middleware", {"use_middleware": True}),
    ("redis", {"token_store": "redis"}),
]


@dataclass(frozen=True)
class Baked:
    projects: dict[str, Path]  # by variant name; "HS256" is the default bake
    seconds: float  # the default bake's time inside cookiecutter


@dataclass(frozen=True)
class Suite:
    seconds: float  # wall time, interpreter start included
    summary: str  # pytest's last line


def server_env() -> dict[str, str]:
    """The environment of a bake's commands and servers, run from the project directory: the
    bake's own Argon2 parameters (a login's cost is measured), and SETTINGS."""
    return served.project_env(cheap_hashing=False) | SETTINGS


def _redis_is_up() -> bool:
    try:
        socket.create_connection(REDIS, timeout=1).close()
    except OSError:
        return False
    return True


def prepare(project: Path) -> None:
    """Migrate the bake's database and create the benchmark user, through its own CLI."""
    package = served.package_of(project)
    served.run_cli(project, package, "migrate", env=SETTINGS, cheap_hashing=False)
    served.run_cli(
        *(project, package, "create-user", USERNAME, "--password-stdin"),
        stdin=PASSWORD + "\n",
        env=SETTINGS,
        cheap_hashing=False,
    )


def bake_variants(template: Path, tmp: Path, wanted: set[str] | None) -> Baked:
    """Bake, migrate and prepare each variant in BAKES (those in `wanted`, if given)."""
    projects: dict[str, Path] = {}
    seconds = 0.0
    for name, answers in BAKES:
        if wanted is not None and name not in wanted:
            continue
        bake = bakery.timed_bake(template, tmp / f"bake-{name}", answers)
        if bake.project is None:
            note(f"variant {name} skipped: {bake.error}")
            continue
        if name == "redis" and not _redis_is_up():
            note(f"variant redis skipped: no Redis on {REDIS[0]}:{REDIS[1]}")
            continue
        if name == "HS256":
            seconds = bake.seconds
        prepare(bake.project)
        projects[name] = bake.project
        print(f"  {name}: baked in {bake.seconds:.2f} s", flush=True)
    return Baked(projects, seconds)


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
