"""Benchmark the template's JWT protection against the usual ways of doing it.

    python bench/run.py            # full run: 5 rounds x 3 s per case, about 30 minutes
    python bench/run.py --quick    # smoke run: 1 round x 1 s per case

Bakes the variants it needs into a temporary directory, starts every server with uvicorn (one
worker, no access log, loopback, a free port), drives each with wrk, interleaving the cases
over several rounds so that drift of the machine hits every case alike, and prints median
requests/s, the ratio to a bare FastAPI route measured in the same rounds, p99 latency, and
the server's CPU time per request (steadier than requests/s on a shared machine) and its
resident memory. Besides one token repeated, /protected is driven with pools of 1k, 10k and
100k distinct tokens in rotation (bench/token_pool.py): the verified-token cache's hits, and
its misses. POST /auth/refresh and /auth/logout spend single-use tokens (bench/session_pool.py)
on SQLite, PostgreSQL and Redis, each beside the same number of writes in one transaction of
the same database (bench/write_baseline.py): the physical limit. Then it times a cold start
(first 200 on /health, import time), checks that a login storm does not stall the event loop,
that a logout reaches every worker of a two-worker server, and how long a bake and the baked
project's tests take.

It is a benchmark, not a test: the targets are printed as PASS/FAIL, and the exit status is 0
whatever they say. Only 127.0.0.1 is ever contacted, apart from pip installing the optional
fastapi-users/authx comparison into a virtualenv of its own.

This file is the command line and the order of the phases; each phase is a module of the
`bench` package (listed in bench/__init__.py). Baking, free ports and starting, waiting for
and stopping servers come from `harness`, the same code the template's tests use.
"""

import sys
from pathlib import Path

# Run as a script: the repository root makes this `bench` package and the `harness` the
# template's tests use importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import shutil
import signal
import tempfile
from dataclasses import dataclass, replace

from bench import bakes, checks, report, session_pool, token_pool
from bench.cases import STORE_OF_BAKE, baseline_cases, template_cases, third_party_python
from bench.cold_start import cold_start
from bench.machine import Machine, machine
from bench.measure import ensure_wrk, run_rounds
from bench.servers import running
from harness import bakery


@dataclass(frozen=True)
class Options:
    rounds: int
    seconds: int
    connections: int
    storm_seconds: int
    storm_concurrency: int
    token_counts: dict[str, tuple[int, ...]]
    cold_start_trials: int
    login_attempts: int
    revocation_trials: int
    third_party: bool
    third_party_python: str | None


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, Options]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 round x 1 s: a smoke run")
    parser.add_argument("--rounds", type=int, help="rounds over every case (default 5)")
    parser.add_argument("--seconds", type=int, help="wrk seconds per case per round (3)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (32)")
    parser.add_argument(
        "--only", help="comma-separated case labels to measure (the bare reference always runs)"
    )
    parser.add_argument(
        "--variants",
        help="comma-separated bakes to measure (default: all of "
        + ", ".join(name for name, _ in bakes.BAKES)
        + "; HS256 always)",
    )
    parser.add_argument(
        "--skip-suite", action="store_true", help="do not time the default bake's test suite"
    )
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--template", type=Path, default=bakery.TEMPLATE_DIR, help="template root")
    parser.add_argument(
        "--no-third-party", action="store_true", help="skip fastapi-users/authx (no pip install)"
    )
    parser.add_argument(
        "--third-party-python", help="interpreter that already has fastapi-users and authx"
    )
    args = parser.parse_args(argv)
    opts = Options(
        rounds=args.rounds or (1 if args.quick else 5),
        seconds=args.seconds or (1 if args.quick else 3),
        connections=args.connections,
        storm_seconds=1 if args.quick else 5,
        storm_concurrency=16,
        token_counts=token_pool.QUICK_COUNTS if args.quick else token_pool.FULL_COUNTS,
        cold_start_trials=1 if args.quick else 3,
        login_attempts=5 if args.quick else 30,
        revocation_trials=1 if args.quick else 5,
        third_party=not (args.quick or args.no_third_party),
        third_party_python=args.third_party_python,
    )
    return args, opts


def main(argv: list[str] | None = None) -> int:
    args, opts = parse_args(argv)
    # A plain SIGTERM would skip the `finally` blocks that stop the servers we started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ensure_wrk()
    info = machine()
    tmp = Path(tempfile.mkdtemp(prefix="jwt-bench-"))
    logs = tmp / "logs"
    logs.mkdir()
    try:
        return run(args, opts, info, tmp, logs)
    finally:
        bakes.drop_postgres_database()
        bakes.drop_redis_keys()
        shutil.rmtree(tmp, ignore_errors=True)


def run(args: argparse.Namespace, opts: Options, info: Machine, tmp: Path, logs: Path) -> int:
    print("== baking", flush=True)
    wanted_bakes = {"HS256", *args.variants.split(",")} if args.variants else None
    baked = bakes.bake_variants(args.template, tmp, wanted_bakes)

    if args.skip_suite:
        suite = bakes.Suite(0.0, "skipped (--skip-suite)")
    else:
        print("== the default bake's own test suite", flush=True)
        suite = bakes.run_suite(baked.projects["HS256"])
        print(f"  {suite.summary} ({suite.seconds:.1f} s wall)", flush=True)

    print("== minting token pools", flush=True)
    pools = {
        name: token_pool.mint(
            name, project, opts.token_counts[name], tmp / "tokens" / name, baked.env(name)
        )
        for name, project in baked.projects.items()
        if name in opts.token_counts and _pools_wanted(args.only, name)
    }
    wanted_stores = {
        STORE_OF_BAKE[name]: (project, baked.env(name))
        for name, project in baked.projects.items()
        if name in STORE_OF_BAKE and _stores_wanted(args.only, STORE_OF_BAKE[name])
    }
    sessions = session_pool.mint(wanted_stores, opts.rounds, opts.seconds, tmp / "sessions")
    python = third_party_python(tmp, opts.third_party_python, opts.third_party)
    cases = baseline_cases(tmp, python)
    for name, project in baked.projects.items():
        store = STORE_OF_BAKE.get(name, "")
        cases += template_cases(
            name, project, pools.get(name, {}), baked.env(name), sessions.get(store)
        )
    default_server = next(case.server for case in cases if case.label == "HS256 /protected")
    if args.only:
        wanted = {"bare", *args.only.split(",")}
        # A kept case keeps the reference of its second ratio (a refresh its write baseline).
        wanted |= {c.same_server_ref for c in cases if c.label in wanted and c.same_server_ref}
        kept = [case for case in cases if case.label in wanted]
        if len(kept) < 2:
            labels = ", ".join(case.label for case in cases if case.label != "bare")
            sys.exit(f"--only {args.only!r} names no case besides the bare reference: {labels}")
        cases = kept
    # The default bake's server also takes the login storm, whatever --only kept.
    servers = list({id(s): s for s in [default_server, *(c.server for c in cases)]}.values())

    print(
        f"== throughput: {len(cases)} cases x {opts.rounds} rounds x {opts.seconds:g} s, "
        f"wrk -t1 -c{opts.connections}",
        flush=True,
    )
    with running(servers, logs):
        run_rounds(cases, rounds=opts.rounds, seconds=opts.seconds, connections=opts.connections)
        print(f"== login storm: {opts.storm_concurrency} concurrent argon2id logins", flush=True)
        storm = checks.login_storm(
            default_server,
            seconds=opts.storm_seconds,
            concurrency=opts.storm_concurrency,
            connections=opts.connections,
        )
        print("== login cost: sequential logins beside argon2id verify alone", flush=True)
        logins = checks.login_cost(default_server, opts.login_attempts)

    print("== cold start: first 200 on /health, import time, idle memory", flush=True)
    cold = cold_start(baked.projects["HS256"], opts.cold_start_trials)

    print("== revocation across 2 workers", flush=True)
    # The default bake again, on a server of its own.
    two = replace(default_server, name="HS256-2workers")
    with running([two], logs, workers=2):
        revocation = checks.revocation_delay(two, opts.revocation_trials)

    rows = report.summarize(cases)
    extra = report.Extra(
        storm=storm,
        logins=logins,
        revocation=revocation,
        cold=cold,
        bake_seconds=baked.seconds,
        suite_seconds=suite.seconds,
        suite_summary=suite.summary,
    )
    verdicts = report.targets(rows, extra)
    report.print_preamble(info, opts.rounds, opts.seconds, opts.connections)
    report.print_table(rows)
    print()
    report.print_targets(verdicts)
    if args.json:
        report.write_json(args.json, info, rows, verdicts, extra)
    return 0


def _pools_wanted(only: str | None, name: str) -> bool:
    """Whether --only keeps any many-token case of the bake `name` (minting takes a while)."""
    if only is None:
        return True
    return any(
        label.startswith(f"{name} ") and ("tokens" in label or "cache off" in label)
        for label in only.split(",")
    )


def _stores_wanted(only: str | None, store: str) -> bool:
    """Whether --only keeps the refresh or logout case of `store` (minting takes a while)."""
    if only is None:
        return True
    return f"{store} refresh" in only.split(",") or f"{store} logout" in only.split(",")


if __name__ == "__main__":
    raise SystemExit(main())
