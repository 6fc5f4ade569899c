"""Keeping a generated project up to date: recorded answers, cruft update, secrets untouched.

The cruft test is the real workflow: the template is a git repository, a project is made from
one commit with `cruft create`, the template gains a change in a later commit, and
`cruft update` in the project brings it in without replacing the project's own secrets.
"""

import json
import shutil
import sys
from pathlib import Path

import pytest
from baked import read_secret

from harness import bakery

ANSWERS_FILE = ".cookiecutter-replay.json"
README_LINE = "A line the template gained after this project was made."
NEW_SETTING = "NEW_SETTING_ADDED_LATER=1"
NOT_COPIED = shutil.ignore_patterns(
    ".git", ".venv", "venv", "artifacts", "demo", "__pycache__", ".*_cache", "*.egg-info"
)


def test_answers_file_holds_every_answer_and_no_secret(default_project: Path) -> None:
    recorded = json.loads((default_project / ANSWERS_FILE).read_text(encoding="utf-8"))
    answers = {
        key: value
        for key, value in bakery.answers_of(default_project).items()
        if not key.startswith("_")
    }
    assert recorded == {"cookiecutter": answers}
    assert read_secret(default_project) not in (default_project / ANSWERS_FILE).read_text(
        encoding="utf-8"
    )


def test_replaying_the_answers_file_renders_the_same_project(
    tmp_path: Path, default_project: Path
) -> None:
    result = bakery.run_in(
        tmp_path,
        *(sys.executable, "-m", "cookiecutter"),
        *("--config-file", str(bakery.write_config(tmp_path / "config"))),
        *("--replay-file", str(default_project / ANSWERS_FILE)),
        *("--output-dir", str(tmp_path / "replayed"), str(bakery.TEMPLATE_DIR)),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    replayed = tmp_path / "replayed" / default_project.name
    for name in ("pyproject.toml", "compose.yaml", ANSWERS_FILE):
        assert (replayed / name).read_bytes() == (default_project / name).read_bytes(), name


def commit_all(repository: Path, message: str) -> None:
    assert bakery.git(repository, "add", "--all").returncode == 0
    committed = bakery.git(
        repository,
        *("-c", "user.name=Test", "-c", "user.email=test@example.invalid"),
        *("commit", "--quiet", "--no-verify", "-m", message),
    )
    assert committed.returncode == 0, committed.stdout + committed.stderr


def append(path: Path, text: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")


def cruft(cwd: Path, home: Path, *args: str) -> str:
    result = bakery.run_in(
        cwd,
        sys.executable,
        "-c",
        "from cruft._cli import app; app()",
        *args,
        # cruft runs cookiecutter, which writes replay files under ~: keep them in tmp.
        HOME=str(home),
        GIT_CONFIG_GLOBAL="/dev/null",
        GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_NAME="Test",
        GIT_AUTHOR_EMAIL="test@example.invalid",
        GIT_COMMITTER_NAME="Test",
        GIT_COMMITTER_EMAIL="test@example.invalid",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.mark.slow
def test_cruft_update_brings_template_changes_and_keeps_secrets(tmp_path: Path) -> None:
    template = tmp_path / "template"
    shutil.copytree(bakery.TEMPLATE_DIR, template, ignore=NOT_COPIED)
    assert bakery.git(template, "init", "--quiet").returncode == 0
    commit_all(template, "template v1")

    home = tmp_path / "home"
    home.mkdir()
    output_dir = tmp_path / "out"
    cruft(tmp_path, home, "create", "--no-input", "--output-dir", str(output_dir), str(template))
    [project] = output_dir.iterdir()
    secret = read_secret(project)
    env_before = (project / ".env").read_bytes()
    assert bakery.git(project, "init", "--quiet").returncode == 0
    commit_all(project, "project made from template v1")
    assert secret not in (project / ".cruft.json").read_text(encoding="utf-8")

    rendered = template / "{{cookiecutter.project_slug}}"
    append(rendered / "README.md", f"\n{README_LINE}\n")
    # A new setting: .env.example gains it, and the post-gen hook copies that into .env.
    append(rendered / ".env.example", f"{NEW_SETTING}\n")
    commit_all(template, "template v2")

    cruft(project, home, "update", "--skip-apply-ask", "--allow-untracked-files")
    assert README_LINE in (project / "README.md").read_text(encoding="utf-8")
    assert NEW_SETTING in (project / ".env.example").read_text(encoding="utf-8")
    # Each render cruft compares wrote its own fresh secret into .env. Without [tool.cruft]
    # skip, the patch would edit the user's .env and leave .rej files holding those secrets.
    assert (project / ".env").read_bytes() == env_before
    assert read_secret(project) == secret
    assert sorted(path.name for path in project.rglob("*.rej")) == []
