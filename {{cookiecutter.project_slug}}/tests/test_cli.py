"""The command line: migrate, create-user, serve."""

import asyncio
import secrets
from pathlib import Path

import pytest
from typer.testing import CliRunner

from {{ cookiecutter.package_name }}.cli import app
from {{ cookiecutter.package_name }}.config import get_settings
from {{ cookiecutter.package_name }}.db import create_engine, create_sessionmaker
from {{ cookiecutter.package_name }}.users import repository as users

runner = CliRunner()
GOOD_PASSWORD = "plum orbit kettle 42"
# The service's name as a password would hold it (NIST SP 800-63B: a context-specific word).
SERVICE_WORD = "{{ cookiecutter.package_name }}".replace("_", "")


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SECRET_KEY", secrets.token_urlsafe(48))
    monkeypatch.setenv("JWT_ALGORITHM", "HS256")
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("ARGON2_TIME_COST", "1")
    monkeypatch.setenv("ARGON2_MEMORY_KIB", "1024")
    monkeypatch.setenv("ARGON2_PARALLELISM", "1")
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def _run(*args: str, stdin: str | None = None):
    return runner.invoke(app, list(args), input=stdin)


async def _account(username: str) -> tuple[str, bool] | None:
    engine = create_engine(get_settings().database_url)
    async with create_sessionmaker(engine)() as db:
        user = await users.get_by_username(db, username)
    await engine.dispose()
    return (user.role, user.is_active) if user else None


async def _password_hash(username: str) -> str | None:
    engine = create_engine(get_settings().database_url)
    async with create_sessionmaker(engine)() as db:
        user = await users.get_by_username(db, username)
    await engine.dispose()
    return user.password_hash if user else None


def test_migrate_is_idempotent() -> None:
    first = _run("migrate")
    assert first.exit_code == 0, first.output
    second = _run("migrate")
    assert second.exit_code == 0, second.output
    assert "up to date" in second.output


def test_create_user_from_stdin() -> None:
    _run("migrate")
    result = _run(
        "create-user", "admin@example.com", "--password-stdin", stdin=f"{GOOD_PASSWORD}\n"
    )
    assert result.exit_code == 0, result.output
    assert "admin@example.com" in result.output
    assert GOOD_PASSWORD not in result.output
    stored = asyncio.run(_password_hash("admin@example.com"))
    assert stored is not None
    assert stored.startswith("$argon2id$")


def test_create_user_prompts_twice_when_interactive() -> None:
    _run("migrate")
    result = _run("create-user", "bob", stdin=f"{GOOD_PASSWORD}\n{GOOD_PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "Repeat for confirmation" in result.output


def test_a_duplicate_username_in_any_case_fails_cleanly() -> None:
    _run("migrate")
    _run("create-user", "Admin", "--password-stdin", stdin=f"{GOOD_PASSWORD}\n")
    result = _run("create-user", "ADMIN", "--password-stdin", stdin=f"{GOOD_PASSWORD}\n")
    assert result.exit_code == 1
    assert "already exists" in result.output
    assert "Traceback" not in result.output


# A lone surrogate is how Python hands over an argument that is not valid UTF-8.
@pytest.mark.parametrize(
    "username", ["x" * 255, " padded ", "tab\there", "nul\0", "bad\udcff", "\ufdfa" * 15]
)
def test_invalid_usernames_are_refused(username: str) -> None:
    _run("migrate")
    result = _run("create-user", username, "--password-stdin", stdin=f"{GOOD_PASSWORD}\n")
    assert result.exit_code == 1
    assert "invalid username" in result.output


def test_an_empty_password_is_refused() -> None:
    _run("migrate")
    result = _run("create-user", "carol", "--password-stdin", stdin="\n")
    assert result.exit_code == 1
    assert "empty" in result.output


def test_bad_settings_give_one_line_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_KEY", "changeme")
    get_settings.cache_clear()
    result = _run("migrate")
    assert result.exit_code == 1
    assert "SECRET_KEY" in result.output
    assert "Traceback" not in result.output


def test_every_command_has_help() -> None:
    for command in ("migrate", "create-user", "set-role", "deactivate-user", "serve"):
        result = _run(command, "--help")
        assert result.exit_code == 0
        assert "Usage" in result.output


# Weak passwords and the rule each breaks (NIST SP 800-63B section 5.1.1.2): the command line
# applies the same policy as registration.
WEAK_PASSWORDS = [
    ("Plum-Orbit1", "password_too_short"),
    (" " * 12, "password_blank"),
    ("\u3000" * 12, "password_blank"),  # ideographic spaces
    ("operator-plum-orbit", "password_contains_username"),
    pytest.param(
        f"{SERVICE_WORD.title()}-plum-orbit",
        "password_contains_service_name",
        marks=pytest.mark.skipif(len(SERVICE_WORD) < 4, reason="too short a name to search for"),
    ),
    ("P@ssw0rd2024!!", "password_too_common"),
    ("aaaaaaaaaaaa", "password_repetitive"),
    ("!!!!!!!!!!!!", "password_repetitive"),
    ("qwertyuiopasdfgh", "password_repetitive"),
    ("123456789abc", "password_repetitive"),
    ("abc123abc123", "password_repetitive"),
]


@pytest.mark.parametrize(("password", "rule"), WEAK_PASSWORDS)
def test_create_user_applies_the_password_policy(password: str, rule: str) -> None:
    _run("migrate")
    result = _run("create-user", "operator", "--password-stdin", stdin=f"{password}\n")
    assert result.exit_code == 1
    assert f"({rule}; --allow-weak-password skips the policy)" in result.output
    assert asyncio.run(_password_hash("operator")) is None


def test_set_password_applies_the_password_policy() -> None:
    _run("migrate")
    _run("create-user", "operator", "--password-stdin", stdin=f"{GOOD_PASSWORD}\n")
    before = asyncio.run(_password_hash("operator"))
    result = _run("set-password", "operator", "--password-stdin", stdin="abc123abc123\n")
    assert result.exit_code == 1
    assert "password_repetitive" in result.output
    assert asyncio.run(_password_hash("operator")) == before


@pytest.mark.parametrize("command", ["create-user", "set-password"])
def test_the_policy_can_be_skipped_and_says_so(command: str) -> None:
    _run("migrate")
    if command == "set-password":
        _run("create-user", "operator", "--password-stdin", stdin=f"{GOOD_PASSWORD}\n")
    args = (command, "operator", "--password-stdin", "--allow-weak-password")
    result = _run(*args, stdin="aaaaaaaaaaaa\n")
    assert result.exit_code == 0, result.output
    assert "Warning: --allow-weak-password: the password policy was not applied." in result.output
    assert asyncio.run(_password_hash("operator")) is not None


def test_the_minimum_length_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    _run("migrate")
    monkeypatch.setenv("PASSWORD_MIN_LENGTH", "24")
    get_settings.cache_clear()
    result = _run("create-user", "operator", "--password-stdin", stdin=f"{GOOD_PASSWORD}\n")
    assert result.exit_code == 1
    assert "at least 24 characters" in result.output


LAST_ADMIN_ERROR = (
    "Error: this is the last active admin: it cannot be demoted or deactivated "
    "(give another user the admin role first)"
)


def _create(username: str, *options: str) -> None:
    result = _run("create-user", username, "--password-stdin", *options, stdin=GOOD_PASSWORD)
    assert result.exit_code == 0, result.output


def test_set_role_changes_the_role_once() -> None:
    _run("migrate")
    _create("root", "--role", "admin")
    _create("bob")
    result = _run("set-role", "BOB", "admin")
    assert result.exit_code == 0, result.output
    assert "now admin (was user); all sessions ended" in result.output
    assert asyncio.run(_account("bob")) == ("admin", True)
    again = _run("set-role", "bob", "admin")
    assert again.exit_code == 0, again.output
    assert "nothing changed" in again.output
    # Two admins: either may be demoted, not both.
    assert _run("set-role", "root", "user").exit_code == 0
    assert asyncio.run(_account("root")) == ("user", True)


def test_the_last_admin_cannot_be_demoted_or_deactivated() -> None:
    _run("migrate")
    _create("root", "--role", "admin")
    for args in (("set-role", "root", "user"), ("deactivate-user", "root")):
        result = _run(*args)
        assert result.exit_code == 1, args
        # One error line; the other lines are the service's log (the refusal's audit event).
        errors = [line for line in result.output.splitlines() if "Error" in line]
        assert errors == [LAST_ADMIN_ERROR]
        assert "Traceback" not in result.output
    assert asyncio.run(_account("root")) == ("admin", True)


def test_deactivate_and_reactivate_user() -> None:
    _run("migrate")
    _create("bob")
    assert "deactivated" in _run("deactivate-user", "bob").output
    assert asyncio.run(_account("bob")) == ("user", False)
    assert "already deactivated" in _run("deactivate-user", "bob").output
    result = _run("reactivate-user", "bob")
    assert result.exit_code == 0, result.output
    assert "reactivated" in result.output
    assert asyncio.run(_account("bob")) == ("user", True)


@pytest.mark.parametrize(
    "args", [("set-role", "nobody", "admin"), ("reactivate-user", "nobody")], ids=str
)
def test_an_unknown_user_is_one_line(args: tuple[str, ...]) -> None:
    _run("migrate")
    result = _run(*args)
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == ["Error: no user named 'nobody'"]


def test_an_unknown_role_is_a_usage_error() -> None:
    _run("migrate")
    _create("bob")
    result = _run("set-role", "bob", "root")
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert asyncio.run(_account("bob")) == ("user", True)
