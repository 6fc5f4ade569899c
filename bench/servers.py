"""The servers the benchmark measures: uvicorn command lines, started side by side on free
loopback ports and stopped together, with the harness the template's tests use."""

import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from harness import served

# Our servers answer their ready path with 200, or 401 behind an auth middleware; a 404
# would be some other program on the port.
READY_STATUSES = (200, 401)
START_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class _Started:
    process: subprocess.Popen[bytes]
    port: int
    log: Path


@dataclass
class Server:
    name: str
    # The command line, without --port and --workers.
    argv: list[str]
    cwd: Path
    env: dict[str, str]
    ready_path: str
    # Returns a fresh valid access token (logs in for the template, reads a file otherwise).
    token: Callable[["Server"], str]
    _started: _Started | None = field(default=None, init=False, repr=False)

    def start(self, logs: Path, workers: int) -> None:
        port = served.free_loopback_port()
        log = logs / f"{self.name}.log"
        argv = [*self.argv, "--port", str(port), "--workers", str(workers)]
        process = served.launch(argv, cwd=self.cwd, env=self.env, log=log)
        self._started = _Started(process, port, log)

    def wait_until_ready(self) -> None:
        started = self._running()
        served.wait_until_ready(
            started.process,
            f"{self.url}{self.ready_path}",
            started.log,
            statuses=READY_STATUSES,
            timeout=START_TIMEOUT_SECONDS,
        )

    def stop(self) -> None:
        if self._started is not None:
            served.stop(self._started.process)
            self._started = None

    @property
    def url(self) -> str:
        return f"http://{served.LOOPBACK}:{self._running().port}"

    @property
    def pid(self) -> int:
        return self._running().process.pid

    def _running(self) -> _Started:
        if self._started is None:
            raise RuntimeError(f"server {self.name} is not running")
        return self._started


def uvicorn_argv(app: str, *extra: str, python: str = sys.executable) -> list[str]:
    return [
        python,
        "-m",
        "uvicorn",
        app,
        "--host",
        served.LOOPBACK,
        "--no-access-log",
        "--log-level",
        "warning",
        *extra,
    ]


@contextmanager
def running(servers: list[Server], logs: Path, workers: int = 1) -> Iterator[None]:
    """Start every server, then wait for each (they start side by side); stop them all after."""
    try:
        for server in servers:
            server.start(logs, workers)
        for server in servers:
            try:
                server.wait_until_ready()
            except served.ServerError:
                # Most likely another program took the port between our check and uvicorn's
                # bind; one more try on a fresh port.
                server.stop()
                server.start(logs, workers)
                server.wait_until_ready()
        yield
    finally:
        for server in servers:
            server.stop()
