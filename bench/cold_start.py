"""Cold start: how long a bake takes from process start to its first 200 on /health, with
its own `serve` command and with plain uvicorn, the import time of its `main` module, and
the resident memory of one idle worker."""

import http.client
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench import bakes
from bench.measure import rss_mb
from bench.servers import uvicorn_argv
from harness import served

POLL_SECONDS = 0.005
TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class ColdStart:
    import_s: float  # `import <package>.main`, interpreter start excluded
    uvicorn_s: float  # process start to first 200 on /health, `uvicorn <package>.main:app`
    serve_s: float  # the same with `python -m <package> serve`
    idle_rss_mb: float | None  # the uvicorn worker right after its first answer


def _answers_200(port: int) -> bool:
    """Whether /health answers 200 now; False while nothing listens.

    http.client, not httpx: an httpx.get builds a client and its TLS context each time, some
    20 ms of CPU, so polling with it every few ms took most of a core from the server being
    started on a 2-core machine. A refused connection costs http.client a few microseconds.
    """
    connection = http.client.HTTPConnection(served.LOOPBACK, port, timeout=1)
    try:
        connection.request("GET", "/health")
        return connection.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def _first_200(argv: list[str], project: Path, port: int) -> tuple[float, float | None]:
    """Seconds from starting `argv` to the first 200 on /health, and the process's RSS then."""
    started = time.perf_counter()
    process = subprocess.Popen(
        argv, cwd=project, env=bakes.server_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        while time.perf_counter() - started < TIMEOUT_SECONDS:
            if process.poll() is not None:
                raise RuntimeError(f"{argv} exited: {process.stderr and process.stderr.read()!r}")
            if _answers_200(port):
                return time.perf_counter() - started, rss_mb(process.pid)
            time.sleep(POLL_SECONDS)
        raise RuntimeError(f"no 200 from port {port}'s /health in {TIMEOUT_SECONDS:g} s")
    finally:
        # One worker: uvicorn serves in this very process, no group to stop.
        process.terminate()
        process.wait(timeout=30)


def _import_seconds(project: Path, package: str) -> float:
    code = (
        "import time; t = time.perf_counter(); "
        f"import {package}.main; print(time.perf_counter() - t)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=project,
        env=bakes.server_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    return float(result.stdout.strip())


def cold_start(project: Path, trials: int) -> ColdStart:
    """Medians over `trials` starts of each kind."""
    package = served.package_of(project)
    imports, uvicorns, serves, rss = [], [], [], []
    for _ in range(trials):
        imports.append(_import_seconds(project, package))
        port = served.free_loopback_port()
        argv = uvicorn_argv(f"{package}.main:app", "--app-dir", "src", "--port", str(port))
        seconds, memory = _first_200(argv, project, port)
        uvicorns.append(seconds)
        if memory is not None:
            rss.append(memory)
        port = served.free_loopback_port()
        argv = [sys.executable, "-m", package, "serve", "--port", str(port)]
        serves.append(_first_200(argv, project, port)[0])
    return ColdStart(
        import_s=statistics.median(imports),
        uvicorn_s=statistics.median(uvicorns),
        serve_s=statistics.median(serves),
        idle_rss_mb=statistics.median(rss) if rss else None,
    )
