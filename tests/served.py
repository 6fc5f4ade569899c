"""A default bake running as a real server on a free loopback port, as its README describes.

Migrated, with one user, and started with `python -m <package> serve`: what a person does in
their first minutes with the project. Used by the browser test and the container health check.
"""

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import bakery

USERNAME = "alice@example.com"
PASSWORD = "correct horse battery staple"
START_TIMEOUT_SECONDS = 30
CLI_TIMEOUT_SECONDS = 120


class ServerError(RuntimeError):
    """The bake's server did not start; the message holds its log."""


def free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_cli(project: Path, package: str, *args: str, stdin: str = "") -> None:
    """Run `python -m <package> ...` in the bake, failing with its output."""
    result = subprocess.run(
        [sys.executable, "-m", package, *args],
        cwd=project,
        env=bakery.tool_env(PYTHONPATH="src"),
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=CLI_TIMEOUT_SECONDS,
    )
    if result.returncode != 0:
        raise ServerError(f"{' '.join(args)} failed:\n{result.stdout}{result.stderr}")


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
def running_bake(directory: Path) -> Iterator[tuple[Path, str]]:
    """Bake the defaults into `directory`, migrate, add USERNAME, serve; yield (project, url)."""
    project = bakery.bake(directory)
    package = str(bakery.answers_of(project)["package_name"])
    run_cli(project, package, "migrate")
    run_cli(project, package, "create-user", USERNAME, "--password-stdin", stdin=f"{PASSWORD}\n")
    port = free_loopback_port()
    url = f"http://127.0.0.1:{port}"
    log = project / "server.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", package, "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=project,
            env=bakery.tool_env(PYTHONPATH="src"),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_healthy(url, server, log)
            yield project, url
        finally:
            server.terminate()
            server.wait(timeout=10)
