"""A storm of concurrent logins, from a process of its own so it cannot slow the measuring side.

Usage: python login_storm.py URL USERNAME SECONDS CONCURRENCY  (the password is read from
stdin). Prints one JSON line: how many logins succeeded and failed, and how long it ran.
"""

import asyncio
import json
import sys
import time

import httpx


async def storm(url: str, username: str, password: str, seconds: float, concurrency: int) -> dict:
    deadline = time.monotonic() + seconds
    counts = {"ok": 0, "failed": 0}

    async def one_client(http: httpx.AsyncClient) -> None:
        while time.monotonic() < deadline:
            response = await http.post(
                "/auth/login",
                data={"grant_type": "password", "username": username, "password": password},
            )
            counts["ok" if response.status_code == 200 else "failed"] += 1

    started = time.monotonic()
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as http:
        await asyncio.gather(*(one_client(http) for _ in range(concurrency)))
    return {**counts, "seconds": round(time.monotonic() - started, 2)}


def main() -> int:
    url, username, seconds, concurrency = sys.argv[1:5]
    password = sys.stdin.readline().rstrip("\n")
    result = asyncio.run(storm(url, username, password, float(seconds), int(concurrency)))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
