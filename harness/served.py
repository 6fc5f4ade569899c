"""Bakes running as real servers on free loopback ports, as their README describes.

Migrated, with users, and started with `python -m <package> serve` from the project directory
with `PYTHONPATH=src` (the bake is not installed), so every command reads the bake's own
`.env`: what a person does in their first minutes with the project. Used by the browser test,
the container health check, the fuzzer and the load run; the benchmark starts its own command
lines (uvicorn with its options, comparison apps) with `launch`, `wait_until_ready` and `stop`.
"""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from harness import bakery

USERNAME = "alice@example.com"
# Passes the password policy that `create-user` applies (not common, not the username).
PASSWORD = "plum orbit kettle 42"
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


# Ports this process handed out already: see free_loopback_port.
_handed_out: set[int] = set()


def free_loopback_port() -> int:
    """A loopback port free right now and not handed out before by this process: a server
    given an earlier one may still be starting, and not have bound it yet."""
    while True:
        with socket.socket() as probe:
            probe.bind((LOOPBACK, 0))
            port = int(probe.getsockname()[1])
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def package_of(project: Path) -> str:
    return str(bakery.answers_of(project)["package_name"])


def project_env(
    *, pythonpath_first: Sequence[Path] = (), cheap_hashing: bool = True, **overrides: str
) -> dict[str, str]:
    """The environment of a command in the bake: its sources importable, cheap hashing.

    `pythonpath_first` goes before `src` on PYTHONPATH: a directory with a `sitecustomize.py`
    there changes the interpreter before the bake's code runs (a test can skew its clock).
    `cheap_hashing=False` keeps the bake's own Argon2 parameters (the benchmark measures them).
    """
    pythonpath = os.pathsep.join([*(str(path) for path in pythonpath_first), "src"])
    hashing = CHEAP_HASHING if cheap_hashing else {}
    return bakery.tool_env(PYTHONPATH=pythonpath, **hashing, **overrides)


def _run_python(
    project: Path,
    args: list[str],
    stdin: str,
    what: str,
    env: Mapping[str, str] | None = None,
    pythonpath_first: Sequence[Path] = (),
    cheap_hashing: bool = True,
) -> None:
    """Run this interpreter with `args` in the bake, failing with its output.

    `env` adds or overrides variables (say DATABASE_URL), so a command can reach the same
    database or Redis as servers started with the same overrides.
    """
    result = subprocess.run(
        [sys.executable, *args],
        cwd=project,
        env=project_env(
            pythonpath_first=pythonpath_first, cheap_hashing=cheap_hashing, **(env or {})
        ),
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
    cheap_hashing: bool = True,
) -> None:
    """Run `python -m <package> ...` in the bake, failing with its output.

    `env` adds or overrides variables, as for `project_env`, and so do `pythonpath_first` and
    `cheap_hashing`.
    """
    command = ["-m", package, *args]
    _run_python(project, command, stdin, " ".join(args), env, pythonpath_first, cheap_hashing)


def create_users(
    project: Path, credentials: Mapping[str, str], env: Mapping[str, str] | None = None
) -> None:
    """Create every `username: password` with the bake's `create-user` command.

    `env` adds or overrides variables, as for `run_cli`.
    """
    lines = "".join(f"{username} {password}\n" for username, password in credentials.items())
    _run_python(project, ["-c", _CREATE_USERS, package_of(project)], lines, "create-user", env)


def answers_with(url: str, statuses: Collection[int]) -> bool:
    """Whether a GET of `url` answers with one of `statuses`."""
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status in statuses
    except urllib.error.HTTPError as error:
        error.close()
        return error.code in statuses
    except OSError:
        return False


def wait_until_ready(
    server: subprocess.Popen[bytes],
    url: str,
    log: Path,
    *,
    statuses: Collection[int] = (200,),
    timeout: float = START_TIMEOUT_SECONDS,
) -> None:
    """Wait until `url` answers with one of `statuses`, or fail with the server's `log`.

    Another status (a 404, say) is some other program that took the port.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise ServerError(f"the server exited with {server.returncode}:\n{log.read_text()}")
        if answers_with(url, statuses):
            return
        time.sleep(0.2)
    raise ServerError(f"no answer on {url} in {timeout:g}s:\n{log.read_text()}")


def launch(
    command: Sequence[str], *, cwd: Path, env: Mapping[str, str], log: Path
) -> subprocess.Popen[bytes]:
    """Start `command` in a process group of its own, its output to `log`.

    The group lets `stop` stop its worker processes too, even if the parent dies first.
    """
    with log.open("wb") as output:
        return subprocess.Popen(
            list(command),
            cwd=cwd,
            env=dict(env),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


@contextmanager
def serving(
    project: Path,
    log: Path,
    *,
    workers: int = 1,
    pythonpath_first: Sequence[Path] = (),
    port: int | None = None,
    **env: str,
) -> Iterator[str]:
    """Run `python -m <package> serve` on a free loopback port; yield its base URL.

    The server is `launch`ed: stopping it also stops its worker processes. Its output goes to
    `log`, shown when it fails to start. `pythonpath_first` and `env` are as for `project_env`.
    `port` is one the caller took from `free_loopback_port` when a setting must name the URL
    before the server starts (JWT_ISSUER as the public base URL).
    """
    port = port or free_loopback_port()
    url = f"http://{LOOPBACK}:{port}"
    command = [sys.executable, "-m", package_of(project), "serve", "--host", LOOPBACK]
    command += ["--port", str(port), "--workers", str(workers)]
    server_env = project_env(pythonpath_first=pythonpath_first, cheap_hashing=True, **env)
    server = launch(command, cwd=project, env=server_env, log=log)
    try:
        wait_until_ready(server, f"{url}/health", log)
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
