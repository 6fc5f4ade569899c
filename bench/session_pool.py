"""Single-use tokens for POST /auth/refresh and /auth/logout: sessions started by a bake's own
token store (mint_sessions.py), each token sent once by wrk (spend_tokens.lua).

A refresh token works once and a logout ends its session once, so a case that spends them
cannot loop over a small file like the access-token pools of token_pool.py: each run gets a
slice of its own. A run ends when its wrk duration is over or when its slice runs out,
whichever comes first; then its requests/s is taken over the time the slice took.

wrk rather than an async httpx loop: the client shares the machine's two cores with the
server, and a Python client would spend more CPU per request than wrk, squeezing every ratio
towards 1.
"""

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench import BENCH_DIR, bakes, note
from harness import served

SPEND_SCRIPT = BENCH_DIR / "spend_tokens.lua"
# Tokens per wrk-second of a run: about the most each store was seen to sustain on a 2-core
# machine. A faster run ends early (its slice), which leaves its figure valid.
RATE = {"sqlite": 300, "postgresql": 800, "redis": 800}


@dataclass
class SpendPool:
    """A file of single-use tokens, `per_run` of them for each run, from `first` (1-based)."""

    file: Path
    mode: str  # "refresh": the body of POST /auth/refresh; "bearer": the Authorization header
    per_run: int
    first: int = 1

    def next_slice(self) -> tuple[int, int]:
        first, last = self.first, self.first + self.per_run - 1
        self.first = last + 1
        return first, last

    def args(self) -> list[str]:
        first, last = self.next_slice()
        return ["-s", str(SPEND_SCRIPT), "--", str(self.file), str(first), str(last), self.mode]


@dataclass(frozen=True)
class SessionPools:
    refresh: SpendPool
    logout: SpendPool


def start_minting(
    project: Path, env: dict[str, str], count: int, out_dir: Path
) -> subprocess.Popen[bytes]:
    """Start `count` sessions of the bench user in the bake `project` (in the background)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        *(sys.executable, str(BENCH_DIR / "mint_sessions.py"), served.package_of(project)),
        *(bakes.USERNAME, str(count), str(out_dir / "refresh"), str(out_dir / "access")),
    ]
    return subprocess.Popen(argv, cwd=project, env=env)


def mint(
    wanted: dict[str, tuple[Path, dict[str, str]]], runs: int, seconds: int, out_dir: Path
) -> dict[str, SessionPools]:
    """Session pools for each store in `wanted` (store -> bake, its environment), enough for
    `runs` runs of `seconds` of refresh and as many of logout; minted side by side."""
    if not wanted:
        return {}
    started = time.perf_counter()
    per_run = {store: RATE[store] * seconds for store in wanted}
    minting = {
        store: start_minting(project, env, 2 * runs * per_run[store], out_dir / store)
        for store, (project, env) in wanted.items()
    }
    pools = {}
    for store, process in minting.items():
        if process.wait() != 0:
            raise RuntimeError(f"minting sessions for {store} failed")
        n = per_run[store]
        refresh = SpendPool(out_dir / store / "refresh", "refresh", n)
        # Logouts spend the other half's sessions: refreshes never touch them.
        logout = SpendPool(out_dir / store / "access", "bearer", n, first=runs * n + 1)
        pools[store] = SessionPools(refresh, logout)
    note(f"sessions minted for {', '.join(wanted)} in {time.perf_counter() - started:.0f} s")
    return pools
