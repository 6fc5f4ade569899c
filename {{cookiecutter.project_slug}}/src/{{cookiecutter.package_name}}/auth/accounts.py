"""Account administration: set a password, deactivate a user, end all of a user's sessions.

Each change that could mean "someone else has this account" also revokes every session of
the user, refresh and access tokens alike, in every worker (OWASP Session Management Cheat
Sheet: renew sessions on credential change). The row is changed first, raising the user's
credentials version, then the sessions revoked: a login checked against the old password
either finished before, and is revoked with the rest, or fails the version check when it
tries to start its session (AuthService.login).
"""

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..audit import audit
from ..security.passwords import PasswordHasher
from ..users import repository as users
from ..users.models import User
from .stores.interface import TokenStore


class UnknownUserError(LookupError):
    """No account has this username."""


class AccountService:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        passwords: PasswordHasher,
        store: TokenStore,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._passwords = passwords
        self._store = store

    async def _user(self, username: str) -> User:
        async with self._sessionmaker() as db:
            user = await users.get_by_username(db, username)
        if user is None:
            raise UnknownUserError(username)
        return user

    async def set_password(self, username: str, password: str, *, client: str | None) -> str:
        """Replace the user's password and end all their sessions; returns the user id."""
        user = await self._user(username)
        password_hash = await self._passwords.hash_async(password)
        async with self._sessionmaker() as db:
            version = await users.change_password(db, user.id, password_hash)
        await self.revoke_all(
            str(user.id), reason="password_changed", client=client, credentials_version=version
        )
        return str(user.id)

    async def deactivate(self, username: str, *, client: str | None) -> str:
        """Stop the user from logging in and end all their sessions; returns the user id."""
        user = await self._user(username)
        async with self._sessionmaker() as db:
            version = await users.set_active(db, user.id, active=False)
        await self.revoke_all(
            str(user.id), reason="deactivated", client=client, credentials_version=version
        )
        return str(user.id)

    async def revoke_all(
        self,
        user_id: str,
        *,
        reason: str,
        client: str | None,
        credentials_version: int | None = None,
        keep_session: str | None = None,
    ) -> None:
        """End every session of the user, in every worker; after a credentials change, pass
        the user's new `credentials_version` so no login checked before it can start one.
        `keep_session` is the session that made the change itself, which goes on
        (TokenStore.revoke_user says when)."""
        await self._store.revoke_user(
            user_id, credentials_version=credentials_version, keep_session=keep_session
        )
        audit("sessions_revoked", user_id=user_id, reason=reason, client=client)
