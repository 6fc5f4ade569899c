"""The benchmark that bench/run.py runs, one job per module:

- `machine`: what the figures were measured on;
- `bakes`: the template's variants, baked, migrated and given the benchmark's user;
- `servers`: the servers measured (uvicorn command lines), started and stopped together;
- `measure`: wrk runs, the server's CPU time per request, rounds interleaving the cases;
- `cases`: what is measured: the comparison apps and the bakes' routes;
- `token_pool`: many distinct access tokens, minted by a bake and sent in rotation;
- `session_pool`: single-use refresh tokens and sessions, started by a bake's own token store
  and each sent once, for POST /auth/refresh and /auth/logout;
- `checks`: a login storm, the cost of one login, a logout reaching both workers;
- `cold_start`: time to the first answer, import time and idle memory;
- `report`: medians, the table, the targets and the JSON file.

Baking and serving come from the `harness` package the template's tests use too.
`baselines.py`, `third_party.py`, `write_baseline.py`, `login_storm.py`, `mint_tokens.py`
and `mint_sessions.py` are not part of the package: they run in the servers, in the storm's
own process and in the bake (and `rotate_tokens.lua` and `spend_tokens.lua` in wrk).
"""

from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent


def note(message: str) -> None:
    print(f"note: {message}", flush=True)
