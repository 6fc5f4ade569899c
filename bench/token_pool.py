"""Many distinct access tokens: pools minted by a bake's own TokenService (mint_tokens.py), sent
by wrk in rotation (rotate_tokens.lua), so the benchmark sees what a server with many clients
sees instead of one token repeated.

A pool of N tokens walked in order, each run starting where the last one stopped: with N
small enough for the server's verified-token cache every request is a hit once warm; with N
far larger (100k) no token comes back within a run, so every request pays the full check.
"""

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench import BENCH_DIR, note
from harness import served

ROTATE_SCRIPT = BENCH_DIR / "rotate_tokens.lua"
# Signing is what minting costs: RS256 (a 3072-bit key) takes about 1 ms of CPU per signature
# and `issue` signs two, so its 100k pool is about 200 CPU seconds, split over MINT_PROCESSES.
# A real pool rather than a server with the cache off: every request then parses a header, a
# payload and a signature it has never seen, as the other algorithms' 100k rows do.
FULL_COUNTS = {
    "HS256": (1_000, 10_000, 100_000),
    "EdDSA": (1_000, 10_000, 100_000),
    "ES256": (1_000, 10_000, 100_000),
    "RS256": (1_000, 10_000, 100_000),
}
QUICK_COUNTS = {"HS256": (1_000,), "EdDSA": (1_000,)}
# Pools this small are warmed into the cache before the rounds; larger ones are the miss case.
WARM_UP_MAX = 10_000
MINT_PROCESSES = 2


@dataclass
class TokenPool:
    """A file of `count` tokens and where the next wrk run starts in it."""

    file: Path
    count: int
    offset: int = 0

    def advance(self, sent: int) -> None:
        self.offset = (self.offset + sent) % self.count


def mint(
    name: str, project: Path, counts: tuple[int, ...], out_dir: Path, env: dict[str, str]
) -> dict[int, TokenPool]:
    """Pools of `counts` tokens from the bake `project`: the largest minted (in parallel
    processes), the smaller ones its first lines."""
    out_dir.mkdir(parents=True, exist_ok=True)
    largest = max(counts)
    package = served.package_of(project)
    started = time.perf_counter()
    share = -(-largest // MINT_PROCESSES)
    parts = [out_dir / f"part{n}" for n in range(MINT_PROCESSES)]
    minting = [
        subprocess.Popen(
            [sys.executable, str(BENCH_DIR / "mint_tokens.py"), package, str(share), str(part)],
            cwd=project,
            env=env,
        )
        for part in parts
    ]
    if any(process.wait() != 0 for process in minting):
        raise RuntimeError(f"minting tokens in {project} failed")
    lines = [line for part in parts for line in part.read_text().splitlines()][:largest]
    pools = {}
    for count in counts:
        file = out_dir / f"{count}.tokens"
        file.write_text("\n".join(lines[:count]) + "\n")
        pools[count] = TokenPool(file, count)
    note(f"{name}: {largest} tokens minted in {time.perf_counter() - started:.0f} s")
    return pools


def label(count: int) -> str:
    return f"{count // 1000}k tokens" if count >= 1000 else f"{count} tokens"
