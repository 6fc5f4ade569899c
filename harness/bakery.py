"""Bake the template into temporary directories and run tools on the result.

Plain functions rather than fixtures, so test modules can also use them while collecting
(for example to parametrize over cookiecutter.json's choices).
"""

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType

from cookiecutter.main import cookiecutter

TEMPLATE_DIR = Path(__file__).resolve().parents[1]
HOOKS_DIR = TEMPLATE_DIR / "hooks"
CONFIG_NAME = "cookiecutter-config.yaml"
REPLAY_DIR_NAME = "replay"
OUTPUT_DIR_NAME = "out"
TOOL_TIMEOUT_SECONDS = 900

# Runs bake_from in a child interpreter (see timed_bake) and prints the project path and the
# seconds cookiecutter took, as JSON.
_TIMED_BAKE = """
import json, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from harness.bakery import bake_from
started = time.perf_counter()
project = bake_from(Path(sys.argv[2]), Path(sys.argv[3]), json.loads(sys.argv[4]))
print(json.dumps({"path": str(project), "seconds": time.perf_counter() - started}))
"""


@cache
def cookiecutter_json() -> dict[str, object]:
    """Return the template's cookiecutter.json as data."""
    return json.loads((TEMPLATE_DIR / "cookiecutter.json").read_text(encoding="utf-8"))


def option_values() -> dict[str, list[object]]:
    """Every value a user can pick for each choice or yes/no option, the default first."""
    values: dict[str, list[object]] = {}
    for field, default in cookiecutter_json().items():
        if isinstance(default, list):
            values[field] = list(default)
        elif isinstance(default, bool):
            values[field] = [default, not default]
    return values


def non_default_option_values() -> list[tuple[str, object]]:
    """Every (field, value) pair that a user has to choose on purpose."""
    return [(field, value) for field, values in option_values().items() for value in values[1:]]


@cache
def load_hook(name: str) -> ModuleType:
    """Import hooks/<name>.py unrendered.

    The hooks keep their Jinja inside read_answers(), so importing them runs no template code
    and their functions and constants can be tested directly.
    """
    spec = importlib.util.spec_from_file_location(name, HOOKS_DIR / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def leftovers(directory: Path) -> list[str]:
    """Return what a bake into `directory` left in its output directory."""
    output_dir = directory / OUTPUT_DIR_NAME
    return sorted(path.name for path in output_dir.iterdir()) if output_dir.exists() else []


def write_config(directory: Path) -> Path:
    """Write a cookiecutter config that keeps replay files in `directory`, not in ~."""
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / CONFIG_NAME
    # JSON strings are valid YAML scalars, so any path is quoted correctly.
    config.write_text(
        f"replay_dir: {json.dumps(str(directory / REPLAY_DIR_NAME))}\n"
        f"cookiecutters_dir: {json.dumps(str(directory / 'cookiecutters'))}\n",
        encoding="utf-8",
    )
    return config


def bake(directory: Path, **extra_context: object) -> Path:
    """Bake the template without prompts into `directory`/out and return the project path."""
    return bake_from(TEMPLATE_DIR, directory, extra_context)


def bake_from(template: Path, directory: Path, answers: Mapping[str, object]) -> Path:
    """Bake `template` (a checkout of this one, say) as `bake` does."""
    project = cookiecutter(
        str(template),
        no_input=True,
        extra_context=dict(answers),
        output_dir=str(directory / OUTPUT_DIR_NAME),
        config_file=str(write_config(directory)),
    )
    return Path(project)


@dataclass(frozen=True)
class TimedBake:
    """A bake made by `timed_bake`."""

    project: Path | None  # None when the template refused the answers
    seconds: float  # inside cookiecutter: neither the child's start nor its imports
    error: str  # why the template refused, or ""


def timed_bake(template: Path, directory: Path, answers: Mapping[str, object]) -> TimedBake:
    """`bake_from` in a child interpreter, timed, with the hooks' output captured.

    The hooks print to the streams they inherit (the next steps, a refusal's ERROR lines):
    a child keeps them out of the caller's output and hands a refusal back as text.
    """
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            _TIMED_BAKE,
            str(TEMPLATE_DIR),
            str(template),
            str(directory),
            json.dumps(dict(answers)),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        errors = [line for line in result.stderr.splitlines() if "ERROR" in line]
        return TimedBake(None, 0.0, "; ".join(errors) or result.stderr.strip().splitlines()[-1])
    done = json.loads(result.stdout.strip().splitlines()[-1])
    return TimedBake(Path(done["path"]), float(done["seconds"]), "")


def replay_files(project: Path) -> list[Path]:
    """Return the replay files cookiecutter wrote for the bake that made `project`."""
    return sorted((project.parents[1] / REPLAY_DIR_NAME).glob("*.json"))


def answers_of(project: Path) -> dict[str, object]:
    """Return every answer, derived ones included, that made `project`, from its replay file."""
    [replay] = replay_files(project)
    return json.loads(replay.read_text(encoding="utf-8"))["cookiecutter"]


def bake_with_cli(directory: Path, *answers: str) -> subprocess.CompletedProcess[str]:
    """Run the cookiecutter command line, as a user would, with `key=value` answers."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "cookiecutter",
            "--no-input",
            "--config-file",
            str(write_config(directory)),
            "--output-dir",
            str(directory / OUTPUT_DIR_NAME),
            str(TEMPLATE_DIR),
            *answers,
        ],
        capture_output=True,
        text=True,
        check=False,
    )


def tool_env(**overrides: str) -> dict[str, str]:
    """Return this environment minus the outer pytest's own variables, plus `overrides`.

    PYTEST_ADDOPTS or xdist's worker variables must not leak into a tool run inside a bake,
    nor a SECRET_KEY of the caller's, which would override the one in the bake's .env.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("PYTEST_") and key != "SECRET_KEY"
    }
    return env | overrides


def run_in(project: Path, *command: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `command` with `project` as the working directory and capture its output.

    The timeout turns a hung run (a test waiting on a service forever) into a failure
    instead of a CI run that never ends.
    """
    return subprocess.run(
        command,
        cwd=project,
        env=tool_env(**env),
        capture_output=True,
        text=True,
        check=False,
        timeout=TOOL_TIMEOUT_SECONDS,
    )


def git(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run git in `project`, blind to the user's global and system configuration.

    A global excludes file that ignores .env would otherwise make the ignore checks pass for
    the wrong reason.
    """
    return run_in(project, "git", *args, GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1")
