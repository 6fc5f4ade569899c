"""`migrate`: bring the database to the newest revision with Alembic.

A module of its own that only the `migrate` command imports: Alembic, with the Mako and
Pygments it pulls in, takes longer to import than the rest of a start, and the service's own
check that the database is migrated (schema.py) does without it.
"""

from alembic import command
from alembic.config import Config

from .core import async_database_url
from .schema import MIGRATIONS_DIR


def alembic_config(database_url: str) -> Config:
    """Alembic configured in code, so `migrate` works from an installed wheel too."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["database_url"] = async_database_url(database_url)
    return config


def upgrade_to_head(database_url: str) -> None:
    """Apply every revision the database lacks (none: nothing happens)."""
    command.upgrade(alembic_config(database_url), "head")
