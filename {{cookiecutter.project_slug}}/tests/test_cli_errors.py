"""The command line as a user meets it: `python -m {{ cookiecutter.package_name }}` in a shell.

Mistakes (a database that is missing, unreachable or not migrated, a bad option value) must end
in one readable line and a non-zero exit, never a page of traceback.
"""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
COMMANDS = ["migrate", "create-user", "serve"]


def run(cwd: Path, *args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "PYTHONPATH": str(SRC),
        "SECRET_KEY": secrets.token_urlsafe(48),
        "JWT_ALGORITHM": "HS256",
        "DATABASE_URL": f"sqlite+aiosqlite:///{cwd / 'cli.db'}",
        # Wide enough that help text is not wrapped mid-word by the terminal width guess.
        "COLUMNS": "120",
        **env,
    }
    return subprocess.run(  # noqa: S603 - our own interpreter and module, fixed arguments
        [sys.executable, "-m", "{{ cookiecutter.package_name }}", *args],
        cwd=cwd,
        env=environment,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


@pytest.mark.parametrize("command", [[], *([name] for name in COMMANDS)])
def test_every_command_has_help(tmp_path: Path, command: list[str]) -> None:
    result = run(tmp_path, *command, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout
    assert "--help" in result.stdout


def test_help_lists_every_command(tmp_path: Path) -> None:
    result = run(tmp_path, "--help")
    for command in COMMANDS:
        assert command in result.stdout


def test_serve_offers_reload_for_development(tmp_path: Path) -> None:
    assert "--reload" in run(tmp_path, "serve", "--help").stdout


def test_create_user_before_migrate_is_one_line(tmp_path: Path) -> None:
    result = run(tmp_path, "create-user", "bob", "--password-stdin", stdin="pw-123456\n")
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stderr.strip().splitlines() == [
        "Error: database error: no such table: users (check DATABASE_URL; did you run `migrate`?)"
    ]
    # SQLAlchemy's long message carries the INSERT's parameters: the new password hash.
    assert "argon2" not in result.stderr


def test_an_unreachable_database_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-directory" / "x.db"
    result = run(tmp_path, "migrate", DATABASE_URL=f"sqlite+aiosqlite:///{missing}")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: database error:")


def test_a_bad_option_value_is_a_usage_error(tmp_path: Path) -> None:
    result = run(tmp_path, "serve", "--port", "not-a-number")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "--port" in result.stderr


def test_bad_settings_are_one_line(tmp_path: Path) -> None:
    result = run(tmp_path, "migrate", SECRET_KEY="short")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Error: Invalid settings: SECRET_KEY must be at least 32 bytes long"
    ]
