"""Command line: `python -m {{ cookiecutter.package_name }} migrate | create-user | set-password |
set-role | deactivate-user | reactivate-user | serve | keys`.

Commands print one clear line and exit non-zero on bad input; no tracebacks for mistakes a
user can make.
"""

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar

import typer
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from .auth.accounts import AccountChange, AccountService, LastAdminError, UnknownUserError
from .config import Settings, SettingsError, get_settings
from .db import create_engine, create_sessionmaker
from .db.schema import DatabaseNotReadyError, check_schema, reachable_revisions
from .main import create_app
from .security import key_files
from .security.keys import load_private_key, next_key_path
from .security.passwords import MAX_PASSWORD_LENGTH, PasswordHasher
from .users import repository as users
from .users.password_policy import PasswordPolicy, PasswordRejectedError
from .users.roles import Role

app = typer.Typer(
    help="Manage the service: database, users, server, keys.",
    no_args_is_help=True,
    # A traceback that prints local variables could print a password or key.
    pretty_exceptions_show_locals=False,
)
keys_app = typer.Typer(
    help="Manage the EdDSA, ES256 or RS256 signing key (HS256 signs with SECRET_KEY).",
    no_args_is_help=True,
)
app.add_typer(keys_app, name="keys")

# Audit events from the command line carry this instead of a network address.
CLI_CLIENT = "cli"

T = TypeVar("T")

PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from standard input.")
]
AllowWeakPassword = Annotated[
    bool,
    typer.Option(
        "--allow-weak-password",
        help="Skip the password policy (minimum length, common passwords, the username, "
        "repeats): for a throwaway account only.",
    ),
]


def _settings() -> Settings:
    try:
        return get_settings()
    except SettingsError as exc:
        _fail(str(exc))


def _fail(message: str) -> NoReturn:
    typer.secho(f"Error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(code=1)


def _check_database(settings: Settings, check: Callable[[AsyncEngine], Awaitable[object]]) -> None:
    """Run `check` (reachable, or migrated too) before the command's work, so that a database
    that is not ready is one line saying what to do (DatabaseNotReadyError, see main())."""

    async def run() -> None:
        engine = create_engine(settings.database_url)
        try:
            await check(engine)
        finally:
            await engine.dispose()

    asyncio.run(run())


@app.command()
def migrate() -> None:
    """Create or upgrade the database tables (safe to run again)."""
    # Imported here: Alembic is for this command alone, and would slow every other start.
    from .db.migrate import upgrade_to_head

    settings = _settings()
    _check_database(settings, reachable_revisions)
    upgrade_to_head(settings.database_url)
    typer.echo("Database is up to date.")


def _read_password(
    settings: Settings, username: str, *, password_stdin: bool, allow_weak: bool
) -> str:
    """A new password from stdin or a hidden prompt (asked twice), refused if unusable or,
    unless `allow_weak`, if it breaks the password policy registration applies too: an
    operator's account deserves no weaker password than a self-registered one."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    if not password:
        _fail("the password is empty")
    if len(password) > MAX_PASSWORD_LENGTH:
        _fail(f"the password is longer than {MAX_PASSWORD_LENGTH} characters")
    if allow_weak:
        typer.secho(
            "Warning: --allow-weak-password: the password policy was not applied.",
            err=True,
            fg=typer.colors.YELLOW,
        )
        return password
    try:
        PasswordPolicy(min_length=settings.password_min_length).check(username, password)
    except PasswordRejectedError as exc:
        _fail(f"{exc.message} ({exc.rule}; --allow-weak-password skips the policy)")
    return password


async def _create_user(settings: Settings, username: str, password: str, role: Role) -> str:
    hasher = PasswordHasher(
        time_cost=settings.argon2_time_cost,
        memory_kib=settings.argon2_memory_kib,
        parallelism=settings.argon2_parallelism,
    )
    engine = create_engine(settings.database_url)
    try:
        await check_schema(engine)
        async with create_sessionmaker(engine)() as db:
            user = await users.create(db, username, await hasher.hash_async(password), role)
            return str(user.id)
    finally:
        await engine.dispose()


@app.command("create-user")
def create_user(
    username: Annotated[str, typer.Argument(help="Login name; an email address works.")],
    password_stdin: PasswordStdin = False,
    allow_weak_password: AllowWeakPassword = False,
    role: Annotated[Role, typer.Option(help="What the user may do (users/roles.py).")] = Role.USER,
) -> None:
    """Create a user (the password is prompted for twice, hidden, unless --password-stdin)."""
    settings = _settings()
    try:
        users.validate_username(username)
    except users.InvalidUsernameError as exc:
        _fail(f"invalid username: {exc}")
    password = _read_password(
        settings, username, password_stdin=password_stdin, allow_weak=allow_weak_password
    )
    try:
        user_id = asyncio.run(_create_user(settings, username, password, role))
    except users.UsernameTakenError:
        _fail(f"a user named {username!r} already exists")
    typer.echo(f"Created user {username!r} ({user_id}), role {role}.")


def _run_on_accounts(settings: Settings, action: Callable[[AccountService], Awaitable[T]]) -> T:
    """Run `action` with the app's own services, so revocation reaches the configured token
    store (and through it every running worker) exactly as a request would."""

    async def run() -> T:
        application = create_app(settings)
        async with application.router.lifespan_context(application):
            return await action(application.state.services.accounts)

    try:
        return asyncio.run(run())
    except UnknownUserError as exc:
        _fail(f"no user named {exc.args[0]!r}")
    except LastAdminError:
        _fail(
            "this is the last active admin: it cannot be demoted or deactivated "
            "(give another user the admin role first)"
        )


@app.command("set-password")
def set_password(
    username: Annotated[str, typer.Argument(help="The user's login name.")],
    password_stdin: PasswordStdin = False,
    allow_weak_password: AllowWeakPassword = False,
) -> None:
    """Set a user's password and end all of their sessions (every device logs in again)."""
    settings = _settings()
    password = _read_password(
        settings, username, password_stdin=password_stdin, allow_weak=allow_weak_password
    )
    user_id = _run_on_accounts(
        settings, lambda accounts: accounts.set_password(username, password, client=CLI_CLIENT)
    )
    typer.echo(f"Password of {username!r} ({user_id}) changed; all sessions ended.")


def _change_account(
    username: str, change: Callable[[AccountService, str], Awaitable[AccountChange]]
) -> AccountChange:
    """Apply `change` to the user named `username`, by the same AccountService code (and so
    the same rules, the last admin's among them) as the admin API."""

    async def action(accounts: AccountService) -> AccountChange:
        return await change(accounts, await accounts.user_id_of(username))

    return _run_on_accounts(_settings(), action)


@app.command("set-role")
def set_role(
    username: Annotated[str, typer.Argument(help="The user's login name.")],
    role: Annotated[Role, typer.Argument(help="The new role (users/roles.py).")],
) -> None:
    """Give a user a role and end all of their sessions, so no token keeps the old role.

    Refuses to demote the last active admin.
    """
    change = _change_account(
        username, lambda accounts, user_id: accounts.set_role(user_id, role, client=CLI_CLIENT)
    )
    if change.changed:
        typer.echo(
            f"User {username!r} ({change.user_id}) is now {role} (was {change.old_role}); "
            "all sessions ended."
        )
    else:
        typer.echo(f"User {username!r} ({change.user_id}) already is {role}; nothing changed.")


@app.command("deactivate-user")
def deactivate_user(
    username: Annotated[str, typer.Argument(help="The user's login name.")],
) -> None:
    """Stop a user from logging in and end all of their sessions at once.

    Refuses to deactivate the last active admin.
    """
    change = _change_account(
        username,
        lambda accounts, user_id: accounts.set_active(user_id, active=False, client=CLI_CLIENT),
    )
    if change.changed:
        typer.echo(f"User {username!r} ({change.user_id}) deactivated; all sessions ended.")
    else:
        typer.echo(f"User {username!r} ({change.user_id}) was already deactivated.")


@app.command("reactivate-user")
def reactivate_user(
    username: Annotated[str, typer.Argument(help="The user's login name.")],
) -> None:
    """Let a deactivated user log in again."""
    change = _change_account(
        username,
        lambda accounts, user_id: accounts.set_active(user_id, active=True, client=CLI_CLIENT),
    )
    if change.changed:
        typer.echo(f"User {username!r} ({change.user_id}) reactivated.")
    else:
        typer.echo(f"User {username!r} ({change.user_id}) was already active.")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    reload: Annotated[bool, typer.Option(help="Restart on code changes (development).")] = False,
) -> None:
    """Run the API with uvicorn."""
    import uvicorn

    # Fail with one line now rather than a traceback in every worker.
    settings = _settings()
    _check_database(settings, check_schema)
    proxies = [str(network) for network in settings.trusted_proxies]
    uvicorn.run(
        "{{ cookiecutter.package_name }}.main:app",
        host=host,
        port=port,
        workers=None if reload else workers,
        reload=reload,
        server_header=False,
        # uvicorn would otherwise rewrite the client address from X-Forwarded-For whenever the
        # peer is 127.0.0.1; it must trust exactly the proxies the app trusts (TRUSTED_PROXIES),
        # and none when that is empty, so that a forged header cannot pick the throttling key.
        proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies or None,
    )


def _private_key_path(settings: Settings) -> Path:
    if settings.jwt_algorithm == "HS256" or settings.private_key_path is None:
        _fail(
            "JWT_ALGORITHM is HS256, which signs with SECRET_KEY and has no key file; "
            "set JWT_ALGORITHM to EdDSA, ES256 or RS256 and PRIVATE_KEY_PATH first"
        )
    return settings.private_key_path


@keys_app.command("generate")
def keys_generate(
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace an existing key: tokens it signed stop working."),
    ] = False,
) -> None:
    """Write a new signing key to PRIVATE_KEY_PATH and stage the next one beside it (next.pem),
    both readable by their owner only."""
    settings = _settings()
    path = _private_key_path(settings)
    try:
        pem = key_files.generate_private_key(settings.jwt_algorithm)
        key_files.write_key_file(path, pem, overwrite=force)
    except FileExistsError:
        _fail(
            f"PRIVATE_KEY_PATH {path} already exists; use `keys rotate` to replace it while "
            "its tokens keep working, or --force to discard it"
        )
    kid = load_private_key(path, settings.jwt_algorithm).kid
    next_kid = key_files.stage_next_key(path, settings.jwt_algorithm)
    typer.echo(
        f"Wrote a new {settings.jwt_algorithm} key to {path} (kid {kid}) and staged the next "
        f"key at {next_key_path(path)} (kid {next_kid})."
    )


@keys_app.command("rotate")
def keys_rotate(
    now: Annotated[
        bool,
        typer.Option(
            "--now",
            help="Promote the next key without waiting: only when no service outside this one "
            "caches the JWKS.",
        ),
    ] = False,
) -> None:
    """Sign with the staged next key from now on and stage a new one; tokens signed with the
    old key keep working until they expire.

    The next key must have been published for JWKS_MAX_AGE_SECONDS + KEY_RELOAD_SECONDS, so
    that every verifier's cached JWKS holds it. Running workers take the new keys up within
    KEY_RELOAD_SECONDS; no restart is needed.
    """
    settings = _settings()
    path = _private_key_path(settings)
    stage_seconds = settings.jwks_max_age_seconds + settings.key_reload_seconds
    # A retired key is needed as long as the longest-lived token it signed, a refresh token,
    # and a worker that has not reloaded yet may sign with it for one more reload interval.
    refresh_seconds = settings.refresh_token_seconds + settings.jwt_leeway_seconds
    keep_seconds = refresh_seconds + settings.key_reload_seconds
    try:
        result = key_files.rotate(
            path,
            settings.jwt_algorithm,
            stage_seconds=stage_seconds,
            keep_seconds=keep_seconds,
            now=now,
        )
    except key_files.NextKeyTooNewError as exc:
        _fail(
            f"the next key (kid {exc.next_kid}) has been published for less than "
            f"{stage_seconds} seconds (JWKS_MAX_AGE_SECONDS + KEY_RELOAD_SECONDS): verifiers "
            f"may not have it yet. Run `keys rotate` again in {exc.remaining_seconds} seconds "
            "(or with --now if no other service caches the JWKS)."
        )
    except SettingsError as exc:
        _fail(str(exc))
    if isinstance(result, key_files.Staged):
        typer.echo(
            f"Nothing rotated: {result.reason}. Staged a new next key (kid {result.next_kid}), "
            f"published from now on; run `keys rotate` again in {result.wait_seconds} seconds "
            "to start signing with it."
        )
        return
    for pruned in result.pruned:
        typer.echo(f"Deleted {pruned}: every token it signed has expired.")
    typer.echo(
        f"Now signing with kid {result.new_kid}; retired kid {result.retired_kid} "
        f"(verify-only until its tokens expire); staged next kid {result.next_kid}. Running "
        f"workers take this up within {settings.key_reload_seconds} seconds."
    )


def main() -> None:
    """Run the command line; an unreachable or unmigrated database is one line, not a traceback.

    Only the driver's first line is shown: SQLAlchemy's full message repeats the SQL and its
    parameters, which can include a password hash.
    """
    try:
        app()
    except DatabaseNotReadyError as exc:
        typer.secho(f"Error: {exc}", err=True, fg=typer.colors.RED)
        raise SystemExit(1) from None
    except (SQLAlchemyError, OSError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        typer.secho(
            f"Error: database error: {reason} (check DATABASE_URL; did you run `migrate`?)",
            err=True,
            fg=typer.colors.RED,
        )
        raise SystemExit(1) from None
