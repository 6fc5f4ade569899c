"""A smoke run of the benchmark, so that bench/run.py cannot rot unnoticed.

It checks that the script bakes, serves, measures and reports; never how fast anything was
(timings on a shared CI machine prove nothing, and the benchmark prints its own verdicts).
"""

import os
import re
import shutil
import subprocess
import sys

import pytest

from harness import bakery

RUN = bakery.TEMPLATE_DIR / "bench" / "run.py"


@pytest.mark.slow
def test_quick_benchmark_prints_its_table_and_targets() -> None:
    if shutil.which("wrk") is None:
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail("wrk is not installed and REQUIRE_SERVICES=1")
        pytest.skip("wrk is not installed (apt-get install -y wrk)")
    result = subprocess.run(
        # One bake and the cases asserted below keep the smoke run short; a full run covers more.
        [
            *(sys.executable, str(RUN), "--quick", "--variants", "HS256"),
            *("--skip-suite", "--only"),
            "load-user,HS256 /protected,HS256 /users/me,HS256 1k tokens,sqlite refresh",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert re.search(r"^case\s+path\s+req/s\s+x bare", out, re.MULTILINE)
    cases = ("bare", "load-user", "HS256 /protected", "HS256 /users/me", "HS256 1k tokens")
    # A refresh spends each refresh token once, beside the same write alone (its reference).
    for case in (*cases, "sqlite refresh", "sqlite 1-write txn"):
        assert re.search(rf"^{re.escape(case)}\s+/\S+\s+\d+\s+\d+\.\d\d", out, re.MULTILINE), case
    targets = ("GET /protected HS256", "login storm", "login:", "revoked token", "bake time")
    for target in (*targets, "cold start", "refresh sqlite"):
        assert re.search(rf"^(PASS|FAIL|SKIP)\s+{re.escape(target)}", out, re.MULTILINE), target
    assert "Machine:" in out
    assert "FAILED REQUESTS" not in out
