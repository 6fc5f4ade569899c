"""The rendered project's pre-commit hooks: green on a fresh bake, and they stop leaked secrets.

`pre-commit run --all-files` installs the hooks' environments from the Python package index
(PRE_COMMIT_HOME is a temporary directory, shared by this module's runs); no hook repository
is cloned from a git host, so this works where only the package index is reachable.
"""

import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from harness import bakery

PRIVATE_KEY_LINE = "-----BEGIN " + "PRIVATE KEY-----"  # split so this file is no key itself


def config(project: Path) -> dict:
    return yaml.safe_load((project / ".pre-commit-config.yaml").read_text(encoding="utf-8"))


def hooks(project: Path) -> list[dict]:
    return [hook for repo in config(project)["repos"] for hook in repo["hooks"]]


def test_every_hook_is_local(default_project: Path) -> None:
    # A `repo: https://...` hook is cloned from a git host on first use.
    assert [repo["repo"] for repo in config(default_project)["repos"]] == ["local"]


def test_hook_ruff_is_the_dev_extra_ruff(default_project: Path) -> None:
    pyproject = tomllib.loads((default_project / "pyproject.toml").read_text(encoding="utf-8"))
    dev_extra = pyproject["project"]["optional-dependencies"]["dev"]
    [dev_ruff] = [dependency for dependency in dev_extra if dependency.startswith("ruff")]
    hook_ruffs = {
        dependency
        for hook in hooks(default_project)
        for dependency in hook.get("additional_dependencies", [])
        if dependency.startswith("ruff")
    }
    # Two ruff versions would disagree on rules and formatting between commit and CI.
    assert hook_ruffs == {dev_ruff}


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pre-commit-home")


@pytest.fixture
def repository(tmp_path: Path) -> Iterator[Path]:
    """A fresh default bake, git-initialised with every file staged, as after `git add -A`."""
    project = bakery.bake(tmp_path)
    assert bakery.git(project, "init", "--quiet").returncode == 0
    assert bakery.git(project, "add", "--all").returncode == 0
    yield project


def pre_commit(project: Path, home: Path) -> tuple[int, str]:
    result = bakery.run_in(
        project,
        *(sys.executable, "-m", "pre_commit", "run", "--all-files", "--color", "never"),
        PRE_COMMIT_HOME=str(home),
        GIT_CONFIG_GLOBAL="/dev/null",
        GIT_CONFIG_NOSYSTEM="1",
    )
    return result.returncode, result.stdout + result.stderr


@pytest.mark.slow
def test_pre_commit_passes_on_a_fresh_bake(repository: Path, pre_commit_home: Path) -> None:
    code, output = pre_commit(repository, pre_commit_home)
    assert code == 0, output
    # Nothing was skipped for want of files: ruff really looked at the Python.
    assert "ruff check" in output
    assert "ruff check....................................................(no files" not in output


@pytest.mark.slow
@pytest.mark.parametrize("path", [".env", "keys/private.pem", "deploy/server.key"])
def test_pre_commit_refuses_secret_files(
    repository: Path, pre_commit_home: Path, path: str
) -> None:
    target = repository / path
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        target.write_text("not really a secret\n", encoding="utf-8")
    # -f: exactly what a user does when .gitignore stands in the way.
    assert bakery.git(repository, "add", "--force", path).returncode == 0
    code, output = pre_commit(repository, pre_commit_home)
    assert code != 0
    assert "never commit .env or key files" in output
    assert path in output


@pytest.mark.slow
def test_pre_commit_refuses_a_private_key_in_any_file(
    repository: Path, pre_commit_home: Path
) -> None:
    notes = repository / "notes.md"
    notes.write_text(f"key:\n{PRIVATE_KEY_LINE}\nMC4CAQAw\n", encoding="utf-8")
    assert bakery.git(repository, "add", "notes.md").returncode == 0
    code, output = pre_commit(repository, pre_commit_home)
    assert code != 0
    assert "detect-private-key" in output
    assert "notes.md" in output


def test_template_hooks_are_local_and_use_the_same_ruff(default_project: Path) -> None:
    template_config = yaml.safe_load(
        (bakery.TEMPLATE_DIR / ".pre-commit-config.yaml").read_text(encoding="utf-8")
    )
    assert [repo["repo"] for repo in template_config["repos"]] == ["local"]
    template_ruffs = {
        dependency
        for repo in template_config["repos"]
        for hook in repo["hooks"]
        for dependency in hook.get("additional_dependencies", [])
        if dependency.startswith("ruff")
    }
    project_ruffs = {
        dependency
        for hook in hooks(default_project)
        for dependency in hook.get("additional_dependencies", [])
        if dependency.startswith("ruff")
    }
    assert template_ruffs == project_ruffs
