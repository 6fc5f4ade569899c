"""What throughput does not show: /protected during a login storm, what a login costs beside
argon2id's verify alone, and how soon a logout reaches every worker of a two-worker server."""

import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

import httpx

from bench import BENCH_DIR
from bench.bakes import PASSWORD, USERNAME
from bench.measure import WrkRun, cpu_seconds, wrk
from bench.servers import Server


@dataclass(frozen=True)
class StormLogins:
    """What login_storm.py reports: logins that succeeded and failed, and for how long."""

    ok: int
    failed: int
    seconds: float


@dataclass(frozen=True)
class Storm:
    idle: WrkRun
    storm: WrkRun
    logins: StormLogins


@dataclass(frozen=True)
class LoginCost:
    login_ms: float  # wall time of one login, client included
    verify_ms: float  # wall time of one verify alone
    share: float  # verify_ms / login_ms
    login_cpu_ms: float  # the server's CPU time per login: 1000 / logins per second per core
    verify_cpu_ms: float  # this process's CPU time per verify alone
    cpu_share: float  # verify_cpu_ms / login_cpu_ms: logins/s per core over verifies/s


@dataclass(frozen=True)
class Revocation:
    max: float  # seconds
    delays: list[float]  # seconds, one per logout
    polls: int
    window: float  # seconds each logout is watched for


def login_storm(server: Server, *, seconds: int, concurrency: int, connections: int) -> Storm:
    """p99 of GET /protected while idle, then during a storm of argon2id logins."""
    url = f"{server.url}/protected"
    token = server.token(server)
    idle = wrk(url, token, seconds, connections)
    storm = subprocess.Popen(
        [
            sys.executable,
            str(BENCH_DIR / "login_storm.py"),
            server.url,
            USERNAME,
            str(seconds + 2),
            str(concurrency),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert storm.stdin is not None
    storm.stdin.write(PASSWORD + "\n")
    storm.stdin.close()
    time.sleep(1.0)  # let the storm fill the hashing threads first
    during = wrk(url, token, seconds, connections)
    assert storm.stdout is not None
    out = storm.stdout.read()
    storm.wait(timeout=120)
    return Storm(idle, during, StormLogins(**json.loads(out.strip().splitlines()[-1])))


def login_cost(server: Server, attempts: int) -> LoginCost:
    """One login after another, beside argon2id's verify alone with the bake's default
    parameters, timed in this process.

    Two shares of a login are the verify's. Per core: the server's CPU time per login (from
    /proc, the server doing nothing else meanwhile) against this process's CPU time per verify;
    its inverse is logins per second per core, and the rest of a login (throttle slots, user
    row, session row, HTTP) must leave the hash most of it. Wall time: also the client's work
    and the database's waits for the disk, which a busy machine stretches."""
    from pwdlib import PasswordHash
    from pwdlib.hashers.argon2 import Argon2Hasher

    hasher = PasswordHash((Argon2Hasher(time_cost=2, memory_cost=19456, parallelism=1),))
    stored = hasher.hash(PASSWORD)
    verify, login, verify_cpu, login_cpu = [], [], [], []
    form = {"grant_type": "password", "username": USERNAME, "password": PASSWORD}
    with httpx.Client(base_url=server.url, timeout=30) as http:
        for _ in range(attempts):
            started, started_cpu = time.perf_counter(), time.process_time()
            hasher.verify(PASSWORD, stored)
            verify_cpu.append(time.process_time() - started_cpu)
            verify.append(time.perf_counter() - started)
            server_cpu = cpu_seconds(server.pid)
            started = time.perf_counter()
            response = http.post("/auth/login", data=form)
            login.append(time.perf_counter() - started)
            if server_cpu is not None and (after := cpu_seconds(server.pid)) is not None:
                login_cpu.append(after - server_cpu)
            response.raise_for_status()
    verify_s, login_s = statistics.median(verify), statistics.median(login)
    verify_cpu_s = statistics.median(verify_cpu)
    # /proc counts in clock ticks (10 ms): the mean over every login, not a median of ticks.
    login_cpu_s = statistics.fmean(login_cpu) if login_cpu else float("nan")
    return LoginCost(
        login_ms=1000 * login_s,
        verify_ms=1000 * verify_s,
        share=verify_s / login_s,
        login_cpu_ms=1000 * login_cpu_s,
        verify_cpu_ms=1000 * verify_cpu_s,
        cpu_share=verify_cpu_s / login_cpu_s,
    )


def revocation_delay(server: Server, trials: int, window: float = 2.0) -> Revocation:
    """After a logout, how long until GET /protected is refused by every worker.

    Each poll uses a fresh connection, so the kernel hands it to either worker. The delay of a
    trial is the time of the last 200 after the logout (0 if the first poll was already 401).
    """
    delays = []
    polls = 0
    base = server.url
    for _ in range(trials):
        token = server.token(server)
        auth = {"Authorization": f"Bearer {token}"}
        for _ in range(20):  # both workers verify (and cache) the token first
            with httpx.Client(base_url=base) as http:
                assert http.get("/protected", headers=auth).status_code == 200
        response = httpx.post(f"{base}/auth/logout", headers=auth, timeout=10)
        logged_out = time.perf_counter()
        response.raise_for_status()
        last_ok = 0.0
        while (elapsed := time.perf_counter() - logged_out) < window:
            with httpx.Client(base_url=base) as http:
                status = http.get("/protected", headers=auth).status_code
            polls += 1
            if status == 200:
                last_ok = elapsed
            elif status != 401:
                raise RuntimeError(f"unexpected status {status} after logout")
        delays.append(last_ok)
    return Revocation(max=max(delays), delays=delays, polls=polls, window=window)
