"""Whether the database is ready for this version of the service: reachable, and migrated to
the newest revision that ships with it.

Checked before the service or a command uses it, so that a database never migrated, one that
cannot be reached, or one at another revision is one line that says what to do, instead of a
traceback from the first query (`no such table: auth_sessions`).

Without Alembic: importing it (and Mako, Pygments with it) was a quarter of every start's
time, and the check needs only Alembic's version table and the revision ids of the files in
migrations/versions. tests/test_migrations.py proves both agree with Alembic's own answers.
"""

import ast
from functools import cache
from pathlib import Path

from sqlalchemy import column, inspect, select, table
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS_DIR = Path(__file__).parent.parent / "migrations"
VERSIONS_DIR = MIGRATIONS_DIR / "versions"
# Alembic's default, which migrations/env.py keeps: one row per head the database is at.
VERSION_TABLE = table("alembic_version", column("version_num"))
MIGRATE_COMMAND = f"python -m {__name__.partition('.')[0]} migrate"


class DatabaseNotReadyError(RuntimeError):
    """The database cannot serve this version of the service; the message says what to do."""


def _module_constants(path: Path, names: frozenset[str]) -> dict[str, object]:
    """The literal values assigned to `names` at the top level of the Python file `path`."""
    found: dict[str, object] = {}
    for node in ast.parse(path.read_bytes(), filename=str(path)).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id in names:
            found[target.id] = ast.literal_eval(value)
    return found


def _parents(down_revision: object) -> set[str]:
    """A revision's parents: none, one id, or several (a merge)."""
    if isinstance(down_revision, str):
        return {down_revision}
    if isinstance(down_revision, tuple | list):
        return {str(parent) for parent in down_revision}
    return set()


@cache
def head_revisions() -> frozenset[str]:
    """The revisions `migrate` brings a database to: those no other revision builds on.

    Read from each revision file's `revision` and `down_revision` literals, as Alembic's
    generated files spell them, without importing the files (they import Alembic).
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in VERSIONS_DIR.glob("*.py"):
        if path.name == "__init__.py" or path.name.startswith(".#"):
            continue  # not revisions to Alembic either: a package marker, an editor's lock
        constants = _module_constants(path, frozenset({"revision", "down_revision"}))
        revisions.add(str(constants["revision"]))
        parents |= _parents(constants.get("down_revision"))
    return frozenset(revisions - parents)


def _current_revisions(connection: Connection) -> frozenset[str]:
    """What Alembic records as applied: none before the first `migrate` (no version table)."""
    if not inspect(connection).has_table(VERSION_TABLE.name):
        return frozenset()
    return frozenset(connection.scalars(select(VERSION_TABLE.c.version_num)))


async def reachable_revisions(engine: AsyncEngine) -> frozenset[str]:
    """The revisions the database is at (none before the first `migrate`).

    DatabaseNotReadyError when it cannot be reached, with the driver's first line only: the
    rest of SQLAlchemy's message can repeat SQL and its parameters.
    """
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_current_revisions)
    except (DBAPIError, OSError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise DatabaseNotReadyError(
            f"cannot reach the database ({reason}): check DATABASE_URL and that the database "
            "is running"
        ) from None


async def check_schema(engine: AsyncEngine) -> None:
    """DatabaseNotReadyError unless the database is reachable and at the newest revision."""
    current = await reachable_revisions(engine)
    if not current:
        raise DatabaseNotReadyError(f"the database has no tables yet: run `{MIGRATE_COMMAND}`")
    if current != head_revisions():
        raise DatabaseNotReadyError(
            f"the database is at revision {', '.join(sorted(current))}, this version needs "
            f"{', '.join(sorted(head_revisions()))}: run `{MIGRATE_COMMAND}`"
        )
