"""Login, refresh and logout: the rules, independent of HTTP.

The router translates these exceptions into status codes; the CLI and tests can drive the
same rules without a request.
"""

import time
import uuid

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..audit import audit
from ..security.passwords import PasswordHasher
from ..security.revocation import RotateOutcome, TokenStore
from ..security.throttle import LoginThrottle
from ..security.tokens import Claims, InvalidTokenError, IssuedTokens, TokenService
from ..users import repository as users


class InvalidCredentialsError(Exception):
    """Wrong username or password; deliberately does not say which."""


class LoginThrottledError(Exception):
    """Too many failed logins for this account or address; retry after `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


class InvalidRefreshTokenError(Exception):
    """The refresh token is invalid, expired, revoked or was already used."""


class AuthService:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        passwords: PasswordHasher,
        tokens: TokenService,
        store: TokenStore,
        throttle: LoginThrottle,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._passwords = passwords
        self._tokens = tokens
        self._store = store
        self._throttle = throttle

    async def login(self, username: str, password: str, *, client: str) -> IssuedTokens:
        """Check the password and start a new session; `client` is the caller's address."""
        key = users.username_key(username)
        # Checked before the password: during a lockout even the right password yields nothing.
        throttled = await self._throttle.retry_after(key, client)
        if throttled is not None:
            retry_after, scope = throttled
            audit("login_throttled", client=client, reason=scope)
            raise LoginThrottledError(retry_after)
        async with self._sessionmaker() as db:
            user = await users.get_by_username(db, username)
        # Hashing happens with no database connection held: a login storm must not drain the pool.
        valid, new_hash = await self._passwords.verify(
            password, user.password_hash if user else None
        )
        if user is None or not valid or not user.is_active:
            await self._throttle.record_failure(key, client)
            if user is None:
                audit("login_failed", client=client, reason="unknown_user")
            else:
                reason = "inactive" if valid else "bad_password"
                audit("login_failed", user_id=str(user.id), client=client, reason=reason)
            raise InvalidCredentialsError
        if new_hash is not None:
            async with self._sessionmaker() as db:
                await users.set_password_hash(db, user.id, new_hash)
        user_id = str(user.id)
        session_id = uuid.uuid4().hex
        auth_time = int(time.time())
        issued = self._tokens.issue(user_id, session_id, auth_time)
        await self._store.start_session(
            user_id, session_id, issued.refresh_token_id, self._tokens.session_end(auth_time)
        )
        audit("login_succeeded", user_id=user_id, session_id=session_id, client=client)
        return issued

    async def refresh(self, refresh_token: str, *, client: str) -> IssuedTokens:
        """Trade a refresh token for a new pair; the old refresh token is spent."""
        try:
            claims = self._tokens.verify_refresh(refresh_token)
        except InvalidTokenError:
            raise InvalidRefreshTokenError from None
        issued = self._tokens.issue(claims.user_id, claims.session_id, claims.auth_time)
        outcome = await self._store.rotate(
            claims.session_id, claims.token_id, issued.refresh_token_id
        )
        if outcome is RotateOutcome.REUSED:
            audit(
                "refresh_token_reused",
                user_id=claims.user_id,
                session_id=claims.session_id,
                client=client,
            )
        if outcome is not RotateOutcome.ROTATED:
            raise InvalidRefreshTokenError
        async with self._sessionmaker() as db:
            user = await users.get_by_id(db, claims.user_id)
        if user is None or not user.is_active:
            await self._store.revoke_session(claims.session_id, claims.user_id)
            raise InvalidRefreshTokenError
        audit(
            "token_refreshed", user_id=claims.user_id, session_id=claims.session_id, client=client
        )
        return issued

    async def logout(self, access: Claims, refresh_token: str | None, *, client: str) -> None:
        """End the caller's session, and the refresh token's session if it is another of theirs."""
        await self._store.revoke_session(access.session_id, access.user_id)
        audit("logout", user_id=access.user_id, session_id=access.session_id, client=client)
        if refresh_token:
            try:
                refresh = self._tokens.verify_refresh(refresh_token)
            except InvalidTokenError:
                return
            if refresh.user_id == access.user_id and refresh.session_id != access.session_id:
                await self._store.revoke_session(refresh.session_id, access.user_id)
                audit(
                    "logout", user_id=access.user_id, session_id=refresh.session_id, client=client
                )
