"""Account administration: set a password, change a role, deactivate or reactivate a user,
end all of a user's sessions. The admin API (admin/router.py) and the command line both come
here, so they apply the same rules: among them, nobody can demote or deactivate the last
active admin (`LastAdminError`, decided atomically in the database: users/repository.py).

Each change that could mean "someone else has this account" also revokes every session of
the user, refresh and access tokens alike, in every worker (OWASP Session Management Cheat
Sheet: renew sessions on credential change). The row is changed first, raising the user's
credentials version, then the sessions revoked: a login checked against the old password
either finished before, and is revoked with the rest, or fails the version check when it
tries to start its session (AuthService.login). A role change is a credentials change too:
no token keeps the scopes of an old role.
"""

import uuid

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..audit import audit
from ..security.passwords import PasswordHasher
from ..users import repository as users
from ..users.models import User
from ..users.repository import AccountChange, LastAdminError
from ..users.roles import Role
from .stores.interface import TokenStore

__all__ = ["AccountChange", "AccountService", "LastAdminError", "UnknownUserError"]


class UnknownUserError(LookupError):
    """No account has this username (or, for the methods taking an id, this id)."""


def _user_key(user_id: str) -> uuid.UUID:
    """The id as the database keys it; an id that is not a UUID names no user."""
    try:
        return uuid.UUID(user_id)
    except ValueError:
        raise UnknownUserError(user_id) from None


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

    async def user_id_of(self, username: str) -> str:
        """The id of the user with this name (any letter case); UnknownUserError if none."""
        return str((await self._user(username)).id)

    async def deactivate(self, username: str, *, client: str | None) -> str:
        """Stop the user from logging in and end all their sessions; returns the user id.
        LastAdminError if they are the last active admin."""
        user_id = await self.user_id_of(username)
        await self.set_active(user_id, active=False, client=client)
        return user_id

    async def set_role(
        self, user_id: str, role: Role, *, client: str | None, actor: str | None = None
    ) -> AccountChange:
        """Give the user `role` and end all their sessions, so no token keeps the old role's
        scopes; the role they already have changes and ends nothing.

        UnknownUserError if there is no such user; LastAdminError if they are the last active
        admin and `role` is not admin. `actor` is the administrator acting, if one is.
        """
        change = await self._change(user_id, client=client, actor=actor, role=role)
        if change.changed:
            audit(
                "role_changed",
                user_id=user_id,
                actor=actor,
                client=client,
                reason=f"{change.old_role}->{change.role}",
            )
            await self.revoke_all(
                user_id,
                reason="role_changed",
                client=client,
                actor=actor,
                credentials_version=change.credentials_version,
            )
        return change

    async def set_active(
        self, user_id: str, *, active: bool, client: str | None, actor: str | None = None
    ) -> AccountChange:
        """Reactivate the user, or deactivate them and end all their sessions; a user already
        in that state changes and ends nothing.

        UnknownUserError if there is no such user; LastAdminError to deactivate the last
        active admin. `actor` is the administrator acting, if one is.
        """
        change = await self._change(user_id, client=client, actor=actor, active=active)
        if change.changed:
            event = "user_reactivated" if active else "user_deactivated"
            audit(event, user_id=user_id, actor=actor, client=client)
            if not active:
                await self.revoke_all(
                    user_id,
                    reason="deactivated",
                    client=client,
                    actor=actor,
                    credentials_version=change.credentials_version,
                )
        return change

    async def end_sessions(self, user_id: str, *, client: str | None, actor: str | None) -> None:
        """An administrator ends every session of the user; UnknownUserError if none."""
        async with self._sessionmaker() as db:
            user = await db.get(User, _user_key(user_id))
        if user is None:
            raise UnknownUserError(user_id)
        await self.revoke_all(user_id, reason="admin", client=client, actor=actor)

    async def _change(
        self,
        user_id: str,
        *,
        client: str | None,
        actor: str | None,
        role: Role | None = None,
        active: bool | None = None,
    ) -> AccountChange:
        key = _user_key(user_id)
        try:
            async with self._sessionmaker() as db:
                return await users.change_account(db, key, role=role, active=active)
        except LastAdminError:
            audit(
                "account_change_refused",
                user_id=user_id,
                actor=actor,
                client=client,
                reason="last_admin",
            )
            raise
        except LookupError:
            raise UnknownUserError(user_id) from None

    async def revoke_all(
        self,
        user_id: str,
        *,
        reason: str,
        client: str | None,
        actor: str | None = None,
        credentials_version: int | None = None,
        keep_session: str | None = None,
    ) -> None:
        """End every session of the user, in every worker; after a credentials change, pass
        the user's new `credentials_version` so no login checked before it can start one.
        `keep_session` is the session that made the change itself, which goes on
        (TokenStore.revoke_user says when); `actor` is the administrator who asked, if any."""
        await self._store.revoke_user(
            user_id, credentials_version=credentials_version, keep_session=keep_session
        )
        audit("sessions_revoked", user_id=user_id, actor=actor, reason=reason, client=client)
