"""Measuring with wrk: one run of a URL, the server's CPU time per request beside it, and the
rounds that interleave every case with runs of the bare app."""

import os
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

from bench import note
from bench.servers import Server
from bench.session_pool import SpendPool
from bench.token_pool import ROTATE_SCRIPT, WARM_UP_MAX, TokenPool

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}
WARM_UP_REQUESTS = 200


@dataclass(frozen=True)
class WrkRun:
    """One wrk run: requests/s, p50/p99 latency in ms, and the count of failed requests
    (non-2xx answers and socket errors)."""

    rps: float
    p50: float
    p99: float
    failures: int
    requests: int


@dataclass(frozen=True)
class CaseRun(WrkRun):
    """A wrk run of a case, with the server's CPU time per request and its resident memory
    after the run, where /proc tells them."""

    cpu_us: float | None = None
    rss_mb: float | None = None


@dataclass
class Case:
    label: str
    server: Server
    path: str
    description: str
    # Label of the same-server bare route, for the second ratio column.
    same_server_ref: str | None = None
    runs: list[CaseRun] = field(default_factory=list)
    # The bare reference's run just before each of ours.
    ref_runs: list[CaseRun] = field(default_factory=list)
    # Many distinct tokens sent in rotation, instead of the server's one token.
    pool: TokenPool | None = None
    # Single-use tokens (refresh tokens, sessions to log out), each sent once.
    spend: SpendPool | None = None

    @property
    def needs_token(self) -> bool:
        return self.path != "/health" and self.pool is None and self.spend is None


def ensure_wrk() -> str:
    """Path of wrk, installing the system package when running as root."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        note("wrk is missing; installing it with apt-get")
        install = ["apt-get", "install", "-y", "-q", "wrk"]
        if subprocess.run(install, capture_output=True).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], capture_output=True)
            subprocess.run(install, capture_output=True)
        found = shutil.which("wrk")
        if found:
            return found
    raise SystemExit(
        "wrk is required: install it with `sudo apt-get install -y wrk` (Debian/Ubuntu), "
        "`brew install wrk` (macOS), or build it from https://github.com/wg/wrk"
    )


def _find(pattern: str, out: str) -> re.Match[str]:
    match = re.search(pattern, out)
    if match is None:
        raise RuntimeError(f"no {pattern!r} in wrk's output:\n{out}")
    return match


def wrk(
    url: str,
    token: str | None,
    seconds: int,
    connections: int,
    pool: TokenPool | None = None,
    spend: SpendPool | None = None,
) -> WrkRun:
    """One wrk run of `url`, with `token` as a bearer token if given, or the tokens of
    `pool` in rotation from its offset (one wrk thread, so one walk through the file), or
    the next slice of `spend`, each token once (POSTs; the run may end early, see
    session_pool.py)."""
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    if token:
        argv += ["-H", f"Authorization: Bearer {token}"]
    argv.append(url)
    if pool is not None:
        argv[-1:-1] = ["-s", str(ROTATE_SCRIPT)]
        argv += ["--", str(pool.file), str(pool.offset)]
    if spend is not None:
        script, *rest = spend.args()
        argv[-1:-1] = [script, rest[0]]
        argv += rest[1:]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    latency = {}
    for pct in ("50", "99"):
        value, unit = _find(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", out).groups()
        latency[pct] = float(value) * _UNITS[unit]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    failures = int(bad.group(1)) if bad else 0
    failures += sum(int(n) for n in errors.groups()) if errors else 0
    rps = float(_find(r"Requests/sec:\s+([\d.]+)", out).group(1))
    requests = int(_find(r"(\d+) requests in", out).group(1))
    spent = re.search(r"spent: (\d+) responses in ([\d.]+) s, exhausted 1", out)
    if spent and float(spent.group(2)) > 0:
        # The slice ran out before the duration: the rate is over the time it took.
        requests = int(spent.group(1))
        rps = requests / float(spent.group(2))
    return WrkRun(
        rps=rps, p50=latency["50"], p99=latency["99"], failures=failures, requests=requests
    )


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time a process has used (Linux /proc), or None where unknown."""
    try:
        # Fields after the parenthesised command name; utime and stime are fields 14 and 15.
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float | None:
    """Resident memory of a process in MB (Linux /proc VmRSS), or None where unknown."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    return int(match.group(1)) / 1024 if match else None


def measure(case: Case, token: str | None, seconds: int, connections: int) -> CaseRun:
    """One wrk run of a case, plus the server's CPU time per request during it.

    Time spent waiting for a CPU is not counted in CPU time, so when other work shares the
    machine CPU time per request moves less than requests/s: a second opinion when two cases
    should cost the same.
    """
    pid = case.server.pid
    before = cpu_seconds(pid)
    run = wrk(f"{case.server.url}{case.path}", token, seconds, connections, case.pool, case.spend)
    after = cpu_seconds(pid)
    if case.pool is not None:
        # Requests still in flight when wrk stopped took a token too.
        case.pool.advance(run.requests + connections)
    cpu_us = None
    if before is not None and after is not None and run.requests:
        cpu_us = (after - before) / run.requests * 1e6
    return CaseRun(**asdict(run), cpu_us=cpu_us, rss_mb=rss_mb(pid))


def _token(tokens: dict[int, str], case: Case) -> str | None:
    return tokens[id(case.server)] if case.needs_token else None


def run_rounds(cases: list[Case], *, rounds: int, seconds: int, connections: int) -> None:
    """Measure every case `rounds` times, each run right after a run of the bare app."""
    servers = list({id(case.server): case.server for case in cases}.values())
    for case in cases:  # warm-up: lazy imports, first connections, the verified-token cache
        # Single-use tokens cannot be spent on warming up: the server's /health instead.
        path = "/health" if case.spend is not None else case.path
        token = case.server.token(case.server) if path != "/health" else None
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        with httpx.Client(base_url=case.server.url) as http:
            for _ in range(WARM_UP_REQUESTS):
                http.get(path, headers=headers).raise_for_status()
        if case.pool is not None and case.pool.count <= WARM_UP_MAX:
            # Long enough to send the whole pool once at miss speed (500/s at the slowest, RS256
            # on a busy machine): it is all in the cache after.
            url = f"{case.server.url}{case.path}"
            wrk(url, None, max(1, case.pool.count // 500), connections, case.pool)
    bare = next(case for case in cases if case.label == "bare")
    others = [case for case in cases if case is not bare]
    for round_no in range(rounds):
        tokens = {id(server): server.token(server) for server in servers}
        # Rotate the order each round so no case always runs right after the same neighbour.
        shift = round_no % len(others)
        for case in others[shift:] + others[:shift]:
            # Each case runs right after a bare run: its ratio compares two neighbours in
            # time, so load that comes and goes on the machine cancels out.
            reference = measure(bare, _token(tokens, bare), seconds, connections)
            bare.runs.append(reference)
            case.ref_runs.append(reference)
            case.runs.append(measure(case, _token(tokens, case), seconds, connections))
        print(f"  round {round_no + 1}/{rounds} done", flush=True)
