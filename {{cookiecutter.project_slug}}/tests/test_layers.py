"""The layers the code is built in hold: cli -> main -> admin -> auth -> users -> security ->
config -> db.

The contracts live in pyproject.toml ([tool.importlinter]); this runs them, so a change that
makes, say, security/ import auth/ fails the suite with the import chain that breaks them.
"""

import shutil
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
PACKAGE = "{{ cookiecutter.package_name }}"
LINT_IMPORTS = (
    "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(no_logo=True))"
)


def _lint_imports(project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 (fixed arguments: this interpreter, our own code)
        [sys.executable, "-c", LINT_IMPORTS],
        cwd=project,
        env={"PYTHONPATH": str(project / "src"), "PATH": "", "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_the_layers_hold() -> None:
    result = _lint_imports(PROJECT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


def test_an_import_against_the_layers_fails(tmp_path: Path) -> None:
    """security/ importing auth/: the contract must catch it, or it protects nothing."""
    copy = tmp_path / "project"
    shutil.copytree(PROJECT / "src", copy / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(PROJECT / "pyproject.toml", copy / "pyproject.toml")
    passwords = copy / "src" / PACKAGE / "security" / "passwords.py"
    passwords.write_text(passwords.read_text() + "\nfrom ..auth import service  # noqa\n")
    result = _lint_imports(copy)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout
    assert f"{PACKAGE}.security.passwords -> {PACKAGE}.auth.service" in result.stdout
