"""A bounded load run against a bake's real server with two worker processes, on loopback.

Fifty clients, each with its own user, loop login -> /users/me -> refresh -> /users/me ->
logout, then check that the logged-out access token is refused. The workers share only the
SQLite database, so a refresh or logout often lands on another worker than the login did.

Asserted: no 5xx at all (SQLite write contention between the workers must not surface as
"database is locked"); every refresh of a client's own current token succeeds, so no client's
refresh chain is broken by another's; every logout is honoured by every worker within 1 s.
The figures (requests, rate, latency percentiles, revocation delay) are printed.

LOAD_SECONDS sets the length: 25 s by default, 8 s when CI=true.
"""

import asyncio
import os
import ssl
import statistics
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from harness import bakery, served

CLIENTS = 50
WORKERS = 2
DEFAULT_SECONDS = 8 if os.environ.get("CI") == "true" else 25
LOAD_SECONDS = float(os.environ.get("LOAD_SECONDS", DEFAULT_SECONDS))
REVOCATION_DEADLINE = 1.0
RECHECK_EVERY = 0.02
PASSWORD = "load-test-password"


@dataclass
class Figures:
    """What the clients saw, merged."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: Counter[int] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    revocation_delays: list[float] = field(default_factory=list)
    # Logouts whose first check still got 200: it reached the other worker before its poll.
    seen_late: int = 0
    # The latest moment, after its logout, that a check accepted a logged-out token was sent.
    latest_acceptance: float = 0.0
    loops: int = 0


class Client:
    """One user's loop. Requests go over a kept-alive connection, which sticks to one worker;
    the revocation check opens a new connection each time, so it lands on either worker."""

    def __init__(
        self, http: httpx.AsyncClient, fresh: httpx.AsyncClient, username: str, figures: Figures
    ) -> None:
        self.http = http
        self.fresh = fresh
        self.username = username
        self.figures = figures

    async def call(
        self, name: str, expected: int, method: str, path: str, **kwargs: object
    ) -> httpx.Response | None:
        started = time.perf_counter()
        response = await self.http.request(method, path, **kwargs)  # type: ignore[arg-type]
        self.figures.latencies[name].append(time.perf_counter() - started)
        self.figures.statuses[response.status_code] += 1
        if response.status_code != expected:
            self.figures.problems.append(
                f"{self.username} {name}: {response.status_code} {response.text[:200]}"
            )
            return None
        return response

    async def me(self, name: str, token: str) -> bool:
        response = await self.call(
            name, 200, "GET", "/users/me", headers={"Authorization": f"Bearer {token}"}
        )
        return response is not None and response.json()["username"] == self.username

    async def loop_once(self) -> bool:
        form = {"grant_type": "password", "username": self.username, "password": PASSWORD}
        login = await self.call("login", 200, "POST", "/auth/login", data=form)
        if login is None or not await self.me("users/me", login.json()["access_token"]):
            return False
        body = {"refresh_token": login.json()["refresh_token"]}
        refreshed = await self.call("refresh", 200, "POST", "/auth/refresh", json=body)
        if refreshed is None:
            return False
        tokens = refreshed.json()
        if not await self.me("users/me", tokens["access_token"]):
            return False
        headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        body = {"refresh_token": tokens["refresh_token"]}
        if await self.call("logout", 204, "POST", "/auth/logout", headers=headers, json=body):
            return await self.check_revoked(headers, logged_out=time.perf_counter())
        return False

    async def check_revoked(self, headers: dict[str, str], logged_out: float) -> bool:
        """Re-check the logged-out token until a worker refuses it: a check may reach the
        worker that did not serve the logout, which learns of it from its next poll.

        A check sent more than REVOCATION_DEADLINE after the logout that is still accepted
        fails the run (the server accepted it later still). The delay recorded is when the
        first refusal arrived, an upper bound that includes that request's own latency.
        """
        first_check = True
        while True:
            sent = time.perf_counter()
            response = await self.fresh.get("/users/me", headers=headers)
            received = time.perf_counter()
            self.figures.latencies["revocation check"].append(received - sent)
            self.figures.statuses[response.status_code] += 1
            if response.status_code == 401:
                self.figures.revocation_delays.append(received - logged_out)
                self.figures.seen_late += not first_check
                return True
            if response.status_code != 200 or sent - logged_out > REVOCATION_DEADLINE:
                self.figures.problems.append(
                    f"{self.username}: logged-out token answered {response.status_code} "
                    f"to a check sent {sent - logged_out:.3f}s after the logout"
                )
                return False
            first_check = False
            self.figures.latest_acceptance = max(self.figures.latest_acceptance, sent - logged_out)
            await asyncio.sleep(RECHECK_EVERY)

    async def run(self, until: float) -> None:
        async with self.http:
            while time.monotonic() < until and await self.loop_once():
                self.figures.loops += 1


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def report(figures: Figures, elapsed: float) -> str:
    requests = figures.statuses.total()
    lines = [
        f"{CLIENTS} clients, {WORKERS} workers, {elapsed:.1f}s: {figures.loops} loops, "
        f"{requests} requests, {requests / elapsed:.0f} req/s, statuses {dict(figures.statuses)}"
    ]
    for name, values in sorted(figures.latencies.items()):
        lines.append(
            f"  {name:<17} n={len(values):<6} p50={1000 * statistics.median(values):6.1f} ms"
            f"  p99={1000 * percentile(values, 0.99):6.1f} ms"
        )
    delays = figures.revocation_delays
    if delays:
        lines.append(
            f"  revocation: refused by {1000 * max(delays):.0f} ms at worst (p99 "
            f"{1000 * percentile(delays, 0.99):.0f} ms); {figures.seen_late} of {len(delays)} "
            "logged-out tokens were first still accepted by the other worker, the latest by a "
            f"check sent {1000 * figures.latest_acceptance:.0f} ms after its logout"
        )
    return "\n".join(lines)


async def load(base_url: str, usernames: list[str]) -> tuple[Figures, float]:
    figures = Figures()
    # Plain HTTP on loopback: one TLS context for all, as each client would otherwise load
    # the CA bundle itself, which on a busy machine takes longer than a short run lasts.
    options = {"base_url": base_url, "timeout": 30, "verify": ssl.create_default_context()}
    # Shared by all clients, and never keeps a connection, so each check connects anew.
    no_keepalive = httpx.Limits(max_connections=None, max_keepalive_connections=0)
    async with httpx.AsyncClient(limits=no_keepalive, **options) as fresh:
        clients = [
            Client(httpx.AsyncClient(**options), fresh, username, figures) for username in usernames
        ]
        started = time.monotonic()
        await asyncio.gather(*(client.run(started + LOAD_SECONDS) for client in clients))
    return figures, time.monotonic() - started


@pytest.mark.slow
def test_fifty_clients_on_two_workers(tmp_path: Path) -> None:
    project = bakery.bake(tmp_path)
    served.run_cli(project, served.package_of(project), "migrate")
    usernames = [f"load{number:02d}@example.com" for number in range(CLIENTS)]
    served.create_users(project, dict.fromkeys(usernames, PASSWORD))
    log = tmp_path / "server.log"
    with served.serving(project, log, workers=WORKERS) as base_url:
        figures, elapsed = asyncio.run(load(base_url, usernames))
    summary = report(figures, elapsed)
    print(summary)
    server_errors = {status: n for status, n in figures.statuses.items() if status >= 500}
    assert server_errors == {}, figures.problems[:20]
    assert figures.problems == []
    assert "Traceback" not in log.read_text(errors="replace")
    # The run did real work: on average every client went round at least once.
    assert figures.loops >= CLIENTS, summary
    assert len(figures.revocation_delays) == figures.loops
