"""uv works as well as pip in a rendered project: `uv sync`, then `uv run pytest`.

uv installs from the package index into the bake's own .venv, so this costs a real install
(seconds with uv). It uses the interpreter running these tests and never downloads a Python.
"""

import re
import shutil
import sys
from pathlib import Path

import pytest

from harness import bakery

pytestmark = pytest.mark.slow


def uv(project: Path, cache: Path, *args: str) -> str:
    executable = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    result = bakery.run_in(
        project,
        executable,
        *args,
        UV_PYTHON=sys.executable,
        UV_PYTHON_DOWNLOADS="never",
        UV_CACHE_DIR=str(cache),
        # The outer virtualenv must not stand in for the project's own .venv.
        VIRTUAL_ENV="",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def test_uv_sync_then_uv_run_pytest(tmp_path: Path) -> None:
    project = bakery.bake(tmp_path)
    cache = tmp_path / "uv-cache"
    uv(project, cache, "sync")
    # The dev group brings the dev extra: the test and lint tools are in the project's .venv.
    assert (project / ".venv" / "bin" / "pytest").exists()
    assert (project / "uv.lock").exists()
    output = uv(project, cache, "run", "pytest", "-q", "-p", "no:cacheprovider")
    # uv's own progress lines go to stderr and may follow pytest's summary in the output.
    assert re.search(r"^\d+ passed", output, re.MULTILINE), output
    uv(project, cache, "run", "ruff", "check", ".")
