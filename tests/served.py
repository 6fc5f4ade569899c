"""Run a bake's own server on loopback, the way its README tells a user to.

`python -m <package> migrate`, `create-user` and `serve` run from the project directory with
`PYTHONPATH=src` (the bake is not installed), so they read the bake's own `.env`.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import bakery
import httpx

LOOPBACK = "127.0.0.1"
STARTUP_SECONDS = 60
STOP_SECONDS = 20
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


def package_of(project: Path) -> str:
    return str(bakery.answers_of(project)["package_name"])


def project_env(**overrides: str) -> dict[str, str]:
    """The environment of a command in the bake: its sources importable, cheap hashing."""
    return bakery.tool_env(PYTHONPATH="src", **CHEAP_HASHING, **overrides)


def run_cli(project: Path, *args: str, stdin: str = "", **env: str) -> str:
    """Run `python -m <package> ARGS` in the bake; its output, or a failure showing it."""
    result = subprocess.run(
        [sys.executable, "-m", package_of(project), *args],
        cwd=project,
        env=project_env(**env),
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=bakery.TOOL_TIMEOUT_SECONDS,
    )
    assert result.returncode == 0, f"{args[0]} failed:\n{result.stdout}{result.stderr}"
    return result.stdout


def create_users(project: Path, credentials: Mapping[str, str]) -> None:
    """Create every `username: password` with the bake's `create-user` command."""
    lines = "".join(f"{username} {password}\n" for username, password in credentials.items())
    result = subprocess.run(
        [sys.executable, "-c", _CREATE_USERS, package_of(project)],
        cwd=project,
        env=project_env(),
        input=lines,
        capture_output=True,
        text=True,
        check=False,
        timeout=bakery.TOOL_TIMEOUT_SECONDS,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


@contextmanager
def serving(project: Path, log: Path, *, workers: int = 1, **env: str) -> Iterator[str]:
    """Run `python -m <package> serve` on a free loopback port; yield its base URL.

    The server gets its own process group, so stopping it also stops its worker processes
    even if the parent dies first. Its output goes to `log`, shown when it fails to start.
    """
    port = free_port()
    command = [sys.executable, "-m", package_of(project), "serve", "--host", LOOPBACK]
    command += ["--port", str(port), "--workers", str(workers)]
    with log.open("wb") as output:
        server = subprocess.Popen(
            command,
            cwd=project,
            env=project_env(**env),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base_url = f"http://{LOOPBACK}:{port}"
    try:
        _wait_until_up(server, base_url, log)
        yield base_url
    finally:
        _stop(server)


def _wait_until_up(server: subprocess.Popen[bytes], base_url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        assert server.poll() is None, f"server exited:\n{log.read_text(errors='replace')}"
        try:
            if httpx.get(f"{base_url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"server not up in {STARTUP_SECONDS}s:\n{log.read_text()}")


def _stop(server: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group (uvicorn shuts its workers down), then SIGKILL."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(server.pid, sig)
        except ProcessLookupError:
            return
        try:
            server.wait(timeout=STOP_SECONDS)
            return
        except subprocess.TimeoutExpired:
            continue
