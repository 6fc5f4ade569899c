"""Reading and writing users. Routes and the CLI go through here, never through raw SQL."""

import functools
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Select, and_, bindparam, inspect, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from .models import MAX_USERNAME_LENGTH, User
from .roles import Role


class UsernameTakenError(Exception):
    """Another account already has this username (compared case-insensitively)."""


class InvalidUsernameError(ValueError):
    """The username is empty, too long, or holds characters a username must not."""


class LastAdminError(Exception):
    """The change would leave no active administrator: nobody could administer users any
    more, short of editing the database."""


def username_key(username: str) -> str:
    """The form usernames are compared in: NFKC-normalised and case-folded.

    NFKC maps look-alike compatibility characters (fullwidth letters, ligatures) to one form,
    so they cannot be used to register a second "admin".
    """
    return unicodedata.normalize("NFKC", username).casefold()


def validate_username(username: str) -> str:
    """Return `username` if it is acceptable, else raise InvalidUsernameError.

    The same rules on every database: what PostgreSQL would refuse (NUL in text, a value
    longer than its column) is refused here first, so SQLite, which stores anything, agrees.
    """
    if not username or len(username) > MAX_USERNAME_LENGTH:
        raise InvalidUsernameError(f"a username has 1 to {MAX_USERNAME_LENGTH} characters")
    if username != username.strip():
        raise InvalidUsernameError("a username cannot start or end with whitespace")
    # Not printable: control characters (NUL among them), format characters, unassigned code
    # points and lone surrogates (a UTF-16 half, which no encoding can store).
    if any(not ch.isprintable() for ch in username):
        raise InvalidUsernameError("a username cannot contain control or unassigned characters")
    # One character can normalise to 18 ("\ufdfa"); case folding then at most triples it,
    # which keeps username_key within its column of 4 * MAX_USERNAME_LENGTH.
    if len(unicodedata.normalize("NFKC", username)) > MAX_USERNAME_LENGTH:
        raise InvalidUsernameError(
            f"a username has at most {MAX_USERNAME_LENGTH} characters once normalised (NFKC)"
        )
    return username


async def get_by_id(session: AsyncSession, user_id: str) -> User | None:
    """The user with this id, or None (also for ids that are not UUIDs)."""
    try:
        key = uuid.UUID(user_id)
    except ValueError:
        return None
    return await session.get(User, key)


@functools.cache
def user_columns() -> tuple[tuple[str, ...], tuple[Column[Any], ...]]:
    """Every column of the users table, with the User attribute each one fills: what a
    statement that reads a whole user selects or returns, and `user_from_row` turns back
    into a User (built on first use: inspecting the mapper configures it, which import time
    need not pay)."""
    attributes = inspect(User).column_attrs
    return (
        tuple(attribute.key for attribute in attributes),
        tuple(attribute.columns[0] for attribute in attributes),  # type: ignore[misc]
    )


def user_from_row(row: Sequence[Any]) -> User:
    """A User of its own, in no session (nothing to flush or refresh later), from a row of
    `user_columns()`'s values in their order."""
    keys, _ = user_columns()
    return User(**dict(zip(keys, row, strict=True)))


@functools.cache
def _row_by_id() -> Select[Any]:
    _, columns = user_columns()
    return select(*columns).where(User.__table__.c.id == bindparam("id"))


@functools.cache
def _row_by_username_key() -> Select[Any]:
    _, columns = user_columns()
    return select(*columns).where(User.__table__.c.username_key == bindparam("key"))


async def _read_one(
    engine: AsyncEngine, statement: Select[Any], parameters: dict[str, Any]
) -> User | None:
    """One SELECT on a pooled connection, its row as a User of its own, in no session."""
    async with engine.connect() as connection:
        row = (await connection.execute(statement, parameters)).one_or_none()
    return None if row is None else user_from_row(row)


async def read_by_id(engine: AsyncEngine, user_id: str) -> User | None:
    """`get_by_id` for a read that changes nothing: one SELECT on a pooled connection, and
    the row as a User of its own, in no session (so nothing to flush or refresh later).

    For the hot path of a refresh on a store outside the database: a Session (identity
    map, unit of work, a query built per call) costs more CPU than the query itself.
    """
    try:
        key = uuid.UUID(user_id)
    except ValueError:
        return None
    return await _read_one(engine, _row_by_id(), {"id": key})


async def get_by_username(session: AsyncSession, username: str) -> User | None:
    """The user with this name in any letter case, or None.

    A name no account can have is answered without asking the database, which might refuse
    it (NUL, an over-long key) and turn a failed login into a 503 that says "odd name".
    """
    try:
        validate_username(username)
    except InvalidUsernameError:
        return None
    return await session.scalar(select(User).where(User.username_key == username_key(username)))


async def read_by_username(engine: AsyncEngine, username: str) -> User | None:
    """`get_by_username` for a read that changes nothing, like `read_by_id`: a login reads
    the user once to check the password, then writes through the token store alone."""
    try:
        validate_username(username)
    except InvalidUsernameError:
        return None
    return await _read_one(engine, _row_by_username_key(), {"key": username_key(username)})


async def create(
    session: AsyncSession, username: str, password_hash: str, role: Role = Role.USER
) -> User:
    """Insert a user; UsernameTakenError if the name is taken in any letter case."""
    user = User(
        username=validate_username(username),
        username_key=username_key(username),
        password_hash=password_hash,
        role=role,
    )
    session.add(user)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise UsernameTakenError(username) from None
    return user


async def change_password(session: AsyncSession, user_id: uuid.UUID, password_hash: str) -> int:
    """Store a new password hash; returns the user's new credentials version."""
    return await _change_credentials(session, user_id, password_hash=password_hash)


async def change_password_if_current(
    session: AsyncSession, user_id: uuid.UUID, password_hash: str, *, verified: str
) -> int | None:
    """Store a new password hash for an active user whose stored hash is still `verified`
    (the one the current password was just checked against); returns the new credentials
    version, or None when the password or account changed meanwhile and nothing was stored."""
    version = await session.scalar(
        update(User)
        .where(User.id == user_id, User.password_hash == verified, User.is_active.is_(True))
        .values(credentials_version=User.credentials_version + 1, password_hash=password_hash)
        .returning(User.credentials_version)
    )
    await session.commit()
    return version


async def set_active(session: AsyncSession, user_id: uuid.UUID, *, active: bool) -> int:
    """Activate or deactivate the user; returns the user's new credentials version."""
    return await _change_credentials(session, user_id, is_active=active)


async def _change_credentials(session: AsyncSession, user_id: uuid.UUID, **values: object) -> int:
    version = await session.scalar(
        update(User)
        .where(User.id == user_id)
        .values(credentials_version=User.credentials_version + 1, **values)
        .returning(User.credentials_version)
    )
    await session.commit()
    if version is None:
        raise LookupError(user_id)
    return version


async def replace_password_hash(
    session: AsyncSession, user_id: uuid.UUID, *, verified: str, new: str
) -> bool:
    """Rehash on login: store `new` only if the stored hash is still the one just verified.

    Compare-and-set, so that a login with the old password that finishes after a password
    change cannot write the old password back. Not a credentials change: no version bump.
    """
    result = await session.execute(
        update(User)
        .where(User.id == user_id, User.password_hash == verified)
        .values(password_hash=new)
    )
    await session.commit()
    return result.rowcount == 1


async def list_users(
    session: AsyncSession,
    *,
    limit: int,
    after: uuid.UUID | None = None,
    active: bool | None = None,
) -> Sequence[User]:
    """Up to `limit` users in a stable order, oldest first (created_at, then id), starting
    after the user `after` (keyset pagination: a page never repeats or skips a user because
    others were created meanwhile), only the active or inactive ones if `active` is given.

    The cursor's position is read in SQL from the cursor user's own row, so no timestamp
    makes a round trip through Python (SQLite stores it as text, PostgreSQL does not).
    """
    query = select(User).order_by(User.created_at, User.id).limit(limit)
    if active is not None:
        query = query.where(User.is_active.is_(active))
    if after is not None:
        cursor_created = select(User.created_at).where(User.id == after).scalar_subquery()
        query = query.where(
            or_(
                User.created_at > cursor_created,
                and_(User.created_at == cursor_created, User.id > after),
            )
        )
    return (await session.scalars(query)).all()


@dataclass(frozen=True, slots=True)
class AccountChange:
    """What `change_account` did: the role and state before and after, and the user's new
    credentials version (None when nothing changed, and nothing was written)."""

    user_id: uuid.UUID
    old_role: str
    role: str
    was_active: bool
    is_active: bool
    credentials_version: int | None

    @property
    def changed(self) -> bool:
        return self.credentials_version is not None


def _is_active_admin(role: str, active: bool) -> bool:
    return role == Role.ADMIN and active


async def _lock_admins(session: AsyncSession, user_id: uuid.UUID) -> list[uuid.UUID]:
    """Lock the users table's admins against concurrent role and state changes, for the rest
    of the transaction, and return the ids of the active ones.

    PostgreSQL: `SELECT ... FOR UPDATE` locks every active admin's row, always in id order,
    so two such transactions cannot deadlock: the second waits here until the first commits,
    and then (READ COMMITTED) re-checks each locked row, so an admin the first one demoted or
    deactivated is no longer counted. SQLite has no row locks and ignores FOR UPDATE: a write
    first takes the database's one write lock (waiting up to busy_timeout for it), so these
    transactions run one after another from here on. The write must come before any read: a
    transaction that read first cannot wait for the lock, and would fail at once.
    """
    if session.get_bind().dialect.name == "sqlite":
        await session.execute(update(User).where(User.id == user_id).values(role=User.role))
    admins = await session.scalars(
        select(User.id)
        .where(User.role == Role.ADMIN, User.is_active.is_(True))
        .order_by(User.id)
        .with_for_update()
    )
    return list(admins)


async def change_account(
    session: AsyncSession,
    user_id: uuid.UUID,
    *,
    role: Role | None = None,
    active: bool | None = None,
) -> AccountChange:
    """Set the user's role and/or active state in one transaction, raising their credentials
    version if anything changed; a change to what the user already has writes nothing.

    LastAdminError, and nothing changed, if it would demote or deactivate the last active
    admin, however many such changes run at once (see _lock_admins); LookupError if there is
    no such user.
    """
    try:
        admins = await _lock_admins(session, user_id)
        row = (
            await session.execute(
                select(User.role, User.is_active).where(User.id == user_id).with_for_update()
            )
        ).one_or_none()
        if row is None:
            raise LookupError(user_id)
        old_role, was_active = row
        new_role = old_role if role is None else str(role)
        is_active = was_active if active is None else active
        change = AccountChange(user_id, old_role, new_role, was_active, is_active, None)
        if (new_role, is_active) == (old_role, was_active):
            await session.rollback()
            return change
        if (
            _is_active_admin(old_role, was_active)
            and not _is_active_admin(new_role, is_active)
            and not any(admin != user_id for admin in admins)
        ):
            raise LastAdminError(user_id)
        version = await session.scalar(
            update(User)
            .where(User.id == user_id)
            .values(
                role=new_role,
                is_active=is_active,
                credentials_version=User.credentials_version + 1,
            )
            .returning(User.credentials_version)
        )
        await session.commit()
    except BaseException:
        await session.rollback()
        raise
    return AccountChange(user_id, old_role, new_role, was_active, is_active, version)
