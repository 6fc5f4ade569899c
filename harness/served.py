"""Bakes running as real servers on free loopback ports, as their README describes.

Migrated, with users, and started with `python -m <package> serve` from the project directory
with `PYTHONPATH=src` (the bake is not installed), so every command reads the bake's own
`.env`: what a person does in their first minutes with the project. Used by the browser test,
the container health check, the fuzzer and the load run.
"""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from harness import bakery

USERNAME = "alice@example.com"
PASSWORD = "correct horse battery staple"
LOOPBACK = "127.0.0.1"
START_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 20
CLI_TIMEOUT_SECONDS = 120
# Cheap password hashing: a harness that logs in thousands of times measures the service,
# not Argon2 (whose cost protects nothing here).
CHEAP_HASHING = {"ARGON2_TIME_COST": "1", "ARGON2_MEMORY_KIB": "1024", "ARGON2_PARALLELISM": "1"}

# Creates users through the CLI's own `create-user` command, in one process: fifty separate
# interpreters would spend most of a CI minute importing the same modules. One
# "username password" pair per line on stdin keeps the passwords out of the process list.
_CREATE_USERS = """
import importlib, sys
from typer.testing import CliRunner
app = importlib.import_module(sys.argv[1] + ".cli").app
runner = CliRunner()
for line in sys.stdin:
    username, password = line.rstrip("\\n").split(" ", 1)
    command = ["create-user", username, "--password-stdin"]
    result = runner.invoke(app, command, input=password + "\\n")
    if result.exit_code != 0:
        sys.exit(f"create-user {username}: {result.output}")
"""


class ServerError(RuntimeError):
    """The bake's server did not start, or a command failed; the message holds its output."""


def free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


def package_of(project: Path) -> str:
    return str(bakery.answers_of(project)["package_name"])


def project_env(*, pythonpath_first: Sequence[Path] = (), **overrides: str) -> dict[str, str]:
    """The environment of a command in the bake: its sources importable, cheap hashing.

    `pythonpath_first` goes before `src` on PYTHONPATH: a directory with a `sitecustomize.py`
    there changes the interpreter before the bake's code runs (a test can skew its clock).
    """
    pythonpath = os.pathsep.join([*(str(path) for path in pythonpath_first), "src"])
    return bakery.tool_env(PYTHONPATH=pythonpath, **CHEAP_HASHING, **overrides)


def _run_python(
    project: Path,
    args: list[str],
    stdin: str,
    what: str,
    env: Mapping[str, str] | None = None,
    pythonpath_first: Sequence[Path] = (),
) -> None:
    """Run this interpreter with `args` in the bake, failing with its output.

    `env` adds or overrides variables (say DATABASE_URL), so a command can reach the same
    database or Redis as servers started with the same overrides.
    """
    result = subprocess.run(
        [sys.executable, *args],
        cwd=project,
        env=project_env(pythonpath_first=pythonpath_first, **(env or {})),
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=CLI_TIMEOUT_SECONDS,
    )
    if result.returncode != 0:
        raise ServerError(f"{what} failed:\n{result.stdout}{result.stderr}")


def run_cli(
    project: Path,
    package: str,
    *args: str,
    stdin: str = "",
    env: Mapping[str, str] | None = None,
    pythonpath_first: Sequence[Path] = (),
) -> None:
    """Run `python -m <package> ...` in the bake, failing with its output.

    `env` adds or overrides variables, as for `project_env`, and so does `pythonpath_first`.
    """
    _run_python(project, ["-m", package, *args], stdin, " ".join(args), env, pythonpath_first)


def create_users(
    project: Path, credentials: Mapping[str, str], env: Mapping[str, str] | None = None
) -> None:
    """Create every `username: password` with the bake's `create-user` command.

    `env` adds or overrides variables, as for `run_cli`.
    """
    lines = "".join(f"{username} {password}\n" for username, password in credentials.items())
    _run_python(project, ["-c", _CREATE_USERS, package_of(project)], lines, "create-user", env)


def is_healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def wait_until_healthy(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise ServerError(f"the server exited with {server.returncode}:\n{log.read_text()}")
        if is_healthy(url):
            return
        time.sleep(0.2)
    raise ServerError(f"no answer on {url}/health in {START_TIMEOUT_SECONDS}s:\n{log.read_text()}")


@contextmanager
def serving(
    project: Path,
    log: Path,
    *,
    workers: int = 1,
    pythonpath_first: Sequence[Path] = (),
    **env: str,
) -> Iterator[str]:
    """Run `python -m <package> serve` on a free loopback port; yield its base URL.

    The server gets its own process group, so stopping it also stops its worker processes
    even if the parent dies first. Its output goes to `log`, shown when it fails to start.
    `pythonpath_first` and `env` are as for `project_env`.
    """
    port = free_loopback_port()
    url = f"http://{LOOPBACK}:{port}"
    command = [sys.executable, "-m", package_of(project), "serve", "--host", LOOPBACK]
    command += ["--port", str(port), "--workers", str(workers)]
    with log.open("wb") as output:
        server = subprocess.Popen(
            command,
            cwd=project,
            env=project_env(pythonpath_first=pythonpath_first, **env),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until_healthy(url, server, log)
        yield url
    finally:
        stop(server)


def stop(server: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group (uvicorn shuts its workers down), then SIGKILL."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(server.pid, sig)
        except ProcessLookupError:
            return
        try:
            server.wait(timeout=STOP_TIMEOUT_SECONDS)
            return
        except subprocess.TimeoutExpired:
            continue


@contextmanager
def running_bake(directory: Path) -> Iterator[tuple[Path, str]]:
    """Bake the defaults into `directory`, migrate, add USERNAME, serve; yield (project, url)."""
    project = bakery.bake(directory)
    package = package_of(project)
    run_cli(project, package, "migrate")
    run_cli(project, package, "create-user", USERNAME, "--password-stdin", stdin=f"{PASSWORD}\n")
    with serving(project, project / "server.log") as url:
        yield project, url
