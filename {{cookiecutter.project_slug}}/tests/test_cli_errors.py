"""The command line and the server as a user meets them: `python -m {{ cookiecutter.package_name }}`
and `uvicorn {{ cookiecutter.package_name }}.main:app` in a shell.

These go through `main()`, the entry point `python -m` and the installed script call, so they
see what a user sees. Mistakes (a database that is not migrated or cannot be reached, a bad
option value, bad settings) must end in one readable line and a non-zero exit, never a page of
traceback.
"""

import io
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import {{ cookiecutter.package_name }}
from {{ cookiecutter.package_name }}.cli import main
from {{ cookiecutter.package_name }}.config import Settings, get_settings

COMMANDS = ["migrate", "create-user", "set-role", "deactivate-user", "reactivate-user", "serve"]
MIGRATE = "`python -m {{ cookiecutter.package_name }} migrate`"
NOT_MIGRATED = f"the database has no tables yet: run {MIGRATE}"
PASSWORD_LINE = "plum orbit kettle 42\n"
# Every command that reads or writes the database, with what it needs on stdin.
DATABASE_COMMANDS = [
    pytest.param(["create-user", "bob", "--password-stdin"], PASSWORD_LINE, id="create-user"),
    pytest.param(["set-password", "bob", "--password-stdin"], PASSWORD_LINE, id="set-password"),
    pytest.param(["deactivate-user", "bob"], "", id="deactivate-user"),
    pytest.param(["reactivate-user", "bob"], "", id="reactivate-user"),
    pytest.param(["set-role", "bob", "admin"], "", id="set-role"),
    pytest.param(["serve", "--port", "1"], "", id="serve"),
]
MALFORMED_URLS = ["not a url", "postgresql://127.0.0.1:notaport/db", "mysql://127.0.0.1/db"]
SOURCE_ROOT = Path({{ cookiecutter.package_name }}.__file__).parents[1]


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SECRET_KEY", secrets.token_urlsafe(48))
    monkeypatch.setenv("JWT_ALGORITHM", "HS256")
    # The project's default URL, which these tests never connect to unless they change it.
    monkeypatch.setenv("DATABASE_URL", Settings.model_fields["database_url"].default)
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
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD_LINE))
    code, out, err = run(monkeypatch, capsys, "create-user", "bob", "--password-stdin")
    assert code == 1
    assert "Traceback" not in out + err
    assert err.strip().splitlines() == [f"Error: {NOT_MIGRATED}"]
    # SQLAlchemy's long message carries the INSERT's parameters: the new password hash.
    assert "argon2" not in err


@pytest.mark.parametrize(("command", "stdin"), DATABASE_COMMANDS)
def test_every_command_on_an_unmigrated_database_is_one_line(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    empty_database_url: str,
    command: list[str],
    stdin: str,
) -> None:
    monkeypatch.setenv("DATABASE_URL", empty_database_url)
    get_settings.cache_clear()
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code, out, err = run(monkeypatch, capsys, *command)
    assert code == 1
    assert "Traceback" not in out + err
    assert err.strip().splitlines() == [f"Error: {NOT_MIGRATED}"]


@pytest.mark.parametrize(
    ("command", "stdin"),
    [pytest.param(["migrate"], "", id="migrate"), *DATABASE_COMMANDS],
)
def test_every_command_on_an_unreachable_database_is_one_line(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    unreachable_database_url: str,
    command: list[str],
    stdin: str,
) -> None:
    monkeypatch.setenv("DATABASE_URL", unreachable_database_url)
    get_settings.cache_clear()
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code, out, err = run(monkeypatch, capsys, *command)
    assert code == 1
    assert "Traceback" not in out + err
    [line] = err.strip().splitlines()
    assert line.startswith("Error: cannot reach the database (")
    assert line.endswith("): check DATABASE_URL and that the database is running")


@pytest.mark.parametrize("url", MALFORMED_URLS)
@pytest.mark.parametrize(
    ("command", "stdin"),
    [pytest.param(["migrate"], "", id="migrate"), *DATABASE_COMMANDS],
)
def test_every_command_with_a_malformed_url_is_one_line(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    url: str,
    command: list[str],
    stdin: str,
) -> None:
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code, out, err = run(monkeypatch, capsys, *command)
    assert code == 1
    assert "Traceback" not in out + err
    [line] = err.strip().splitlines()
    assert line.startswith("Error: Invalid settings: DATABASE_URL ")
    assert Settings.model_fields["database_url"].default in line  # an example to copy
    assert url not in line  # a URL can hold a password


def uvicorn(database_url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`uvicorn {{ cookiecutter.package_name }}.main:app` run as a user would, on a free port."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(SOURCE_ROOT),
        "SECRET_KEY": secrets.token_urlsafe(48),
        "JWT_ALGORITHM": "HS256",
        "DATABASE_URL": database_url,
    }
    command = [sys.executable, "-m", "uvicorn", "{{ cookiecutter.package_name }}.main:app"]
    return subprocess.run(  # noqa: S603 (this interpreter, fixed arguments)
        [*command, "--host", "127.0.0.1", "--port", "0"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_uvicorn_on_an_unmigrated_database_says_what_to_do(
    tmp_path: Path, empty_database_url: str
) -> None:
    result = uvicorn(empty_database_url, tmp_path)
    assert result.returncode != 0
    assert "Traceback" not in result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR:")]
    # Ours, and uvicorn's own last word.
    assert [line.split(maxsplit=1)[1] for line in errors] == [
        NOT_MIGRATED,
        "Application startup failed. Exiting.",
    ]


def test_uvicorn_with_a_malformed_url_is_one_line(tmp_path: Path) -> None:
    result = uvicorn("not a url", tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("Error: Invalid settings: DATABASE_URL is not a database URL like ")


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
