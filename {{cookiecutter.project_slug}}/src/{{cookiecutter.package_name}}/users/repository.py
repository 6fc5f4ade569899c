"""Reading and writing users. Routes and the CLI go through here, never through raw SQL."""

import unicodedata
import uuid

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from .models import MAX_USERNAME_LENGTH, User
from .roles import Role


class UsernameTakenError(Exception):
    """Another account already has this username (compared case-insensitively)."""


class InvalidUsernameError(ValueError):
    """The username is empty, too long, or holds characters a username must not."""


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
