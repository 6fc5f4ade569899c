"""The command line as a user meets it: `python -m {{ cookiecutter.package_name }}` in a shell.

These go through `main()`, the entry point `python -m` and the installed script call, so they
see what a user sees. Mistakes (a database that is not migrated, a bad option value, bad
settings) must end in one readable line and a non-zero exit, never a page of traceback.
"""

import io
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.cli import main
from {{ cookiecutter.package_name }}.config import get_settings

COMMANDS = ["migrate", "create-user", "serve"]


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SECRET_KEY", secrets.token_urlsafe(48))
    monkeypatch.setenv("JWT_ALGORITHM", "HS256")
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    # Wide enough that help text and errors are not wrapped by a terminal width guess.
    monkeypatch.setenv("COLUMNS", "160")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    """Run main() with `args` as the command line; return (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["{{ cookiecutter.package_name }}", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    captured = capsys.readouterr()
    return int(exited.value.code or 0), captured.out, captured.err


@pytest.mark.parametrize("command", [[], *([name] for name in COMMANDS)])
def test_every_command_has_help(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    code, out, _ = run(monkeypatch, capsys, *command, "--help")
    assert code == 0
    assert "Usage:" in out
    assert "--help" in out


def test_help_lists_every_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = run(monkeypatch, capsys, "--help")
    for command in COMMANDS:
        assert command in out


def test_serve_offers_reload_for_development(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = run(monkeypatch, capsys, "serve", "--help")
    assert "--reload" in out


def test_create_user_before_migrate_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], empty_database_url: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", empty_database_url)
    get_settings.cache_clear()
    monkeypatch.setattr(sys, "stdin", io.StringIO("pw-123456\n"))
    code, out, err = run(monkeypatch, capsys, "create-user", "bob", "--password-stdin")
    assert code == 1
    assert "Traceback" not in out + err
    # One line naming the missing table, in the database driver's own words.
    [line] = err.strip().splitlines()
    assert line.startswith("Error: database error: ")
    assert '"users"' in line or "table: users" in line
    assert line.endswith("(check DATABASE_URL; did you run `migrate`?)")
    # SQLAlchemy's long message carries the INSERT's parameters: the new password hash.
    assert "argon2" not in err


def test_a_bad_option_value_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(monkeypatch, capsys, "serve", "--port", "not-a-number")
    assert code == 2
    assert "Traceback" not in err
    assert "--port" in err


def test_bad_settings_are_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SECRET_KEY", "short")
    code, _, err = run(monkeypatch, capsys, "migrate")
    assert code == 1
    assert err.strip().splitlines() == [
        "Error: Invalid settings: SECRET_KEY must be at least 32 bytes long"
    ]
