"""A user changing their own password: the current one first, then the policy, then every
other session ended while the calling one goes on.

Asking for the current password turns this into a password oracle for whoever holds a
session, so it is throttled exactly like a login to the account: the attempt takes its slots
in the account's and the address's buckets before the password is hashed, keeps them when the
password is wrong, and gives them back only on success (security/throttle.py). Guessing here
and at /auth/login draws from the same budget.

The new password raises the user's credentials version in the same UPDATE that stores it, and
only if the stored hash is still the one just verified; then the store ends every other
session of the user and re-stamps the calling one with the new version in one atomic step
(`TokenStore.revoke_user(keep_session=...)`). A login with the old password that was still
hashing cannot start a session afterwards: its version check fails (AuthService.login).
"""

from typing import NoReturn

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..audit import audit
from ..security.passwords import PasswordHasher
from ..security.throttle import LoginThrottle, ThrottledError
from ..security.tokens import Claims
from ..users import repository as users
from ..users.password_policy import PasswordPolicy
from .accounts import AccountService
from .exceptions import InvalidAccessTokenError, WrongPasswordError


class PasswordChange:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        passwords: PasswordHasher,
        throttle: LoginThrottle,
        policy: PasswordPolicy,
        accounts: AccountService,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._passwords = passwords
        self._throttle = throttle
        self._policy = policy
        self._accounts = accounts

    async def change(
        self, caller: Claims, current_password: str, new_password: str, *, client: str | None
    ) -> None:
        """Replace the caller's password and end their other sessions.

        InvalidAccessTokenError when the account is gone or deactivated, PasswordRejectedError
        when the new password breaks a rule (checked first: it tells nothing about the current
        one, and an honest typo should not cost a throttle slot), ThrottledError, and
        WrongPasswordError when `current_password` is not the account's password (or stopped
        being it while it was checked).
        """
        async with self._sessionmaker() as db:
            user = await users.get_by_id(db, caller.user_id)
        if user is None or not user.is_active:
            raise InvalidAccessTokenError
        self._policy.check(user.username, new_password)
        limits = self._throttle.login_limits(users.username_key(user.username), client)
        try:
            reservation = await self._throttle.reserve(limits)
        except ThrottledError as exc:
            audit("login_throttled", user_id=caller.user_id, client=client, reason=exc.scope)
            raise
        # Hashing happens with no database connection held, off the event loop.
        valid, _ = await self._passwords.verify(current_password, user.password_hash)
        if not valid:
            self._failed(caller, client)
        new_hash = await self._passwords.hash_async(new_password)
        async with self._sessionmaker() as db:
            version = await users.change_password_if_current(
                db, user.id, new_hash, verified=user.password_hash
            )
        if version is None:
            # Changed or deactivated by someone else while this was being checked.
            self._failed(caller, client)
        await self._throttle.give_back(reservation)
        await self._accounts.revoke_all(
            caller.user_id,
            reason="password_changed",
            client=client,
            credentials_version=version,
            keep_session=caller.session_id,
        )
        audit(
            "password_changed", user_id=caller.user_id, session_id=caller.session_id, client=client
        )

    @staticmethod
    def _failed(caller: Claims, client: str | None) -> NoReturn:
        audit(
            "password_change_failed",
            user_id=caller.user_id,
            session_id=caller.session_id,
            client=client,
            reason="bad_password",
        )
        raise WrongPasswordError
