"""Whether the database is ready for this version of the service: reachable, and migrated to
the newest revision that ships with it.

Checked before the service or a command uses it, so that a database never migrated, one that
cannot be reached, or one at another revision is one line that says what to do, instead of a
traceback from the first query (`no such table: auth_sessions`).
"""

from functools import cache
from pathlib import Path

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS_DIR = Path(__file__).parent.parent / "migrations"
MIGRATE_COMMAND = f"python -m {__name__.partition('.')[0]} migrate"


class DatabaseNotReadyError(RuntimeError):
    """The database cannot serve this version of the service; the message says what to do."""


@cache
def head_revisions() -> frozenset[str]:
    """The revisions `migrate` brings a database to."""
    return frozenset(ScriptDirectory(str(MIGRATIONS_DIR)).get_heads())


def _current_revisions(connection: Connection) -> frozenset[str]:
    return frozenset(MigrationContext.configure(connection).get_current_heads())


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
