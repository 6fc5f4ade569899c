"""Login, refresh, logout and the user's own sessions: the rules, independent of HTTP.

The router translates these exceptions into status codes; the CLI and tests can drive the
same rules without a request.
"""

import time
import uuid

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from ..audit import audit
from ..security.passwords import PasswordHasher
from ..security.throttle import LoginThrottle, ThrottledError
from ..security.tokens import Claims, InvalidTokenError, IssuedTokens, TokenService
from ..users import repository as users
from ..users.models import User
from ..users.roles import scopes_of
from . import claims as token_claims
from .exceptions import (
    InvalidLoginError,
    InvalidRefreshTokenError,
    InvalidScopeError,
    UnknownSessionError,
)
from .session_details import MAX_CLIENT_LENGTH, MAX_USER_AGENT_LENGTH, bounded
from .stores.interface import NewSession, RotateOutcome, SessionInfo, TokenStore


class AuthService:
    def __init__(
        self,
        engine: AsyncEngine,
        sessionmaker: async_sessionmaker[AsyncSession],
        passwords: PasswordHasher,
        tokens: TokenService,
        store: TokenStore,
        throttle: LoginThrottle,
    ) -> None:
        self._engine = engine
        self._sessionmaker = sessionmaker
        self._passwords = passwords
        self._tokens = tokens
        self._store = store
        self._throttle = throttle

    async def login(
        self,
        username: str,
        password: str,
        *,
        client: str | None,
        user_agent: str | None,
        scopes: frozenset[str] | None = None,
    ) -> IssuedTokens:
        """Check the password and start a new session; `client` is the caller's address and
        `user_agent` its User-Agent, both recorded for the user's list of sessions.

        The tokens grant the `scopes` asked for that the user's role allows, or all of those
        when none are asked for. ThrottledError when a limit is reached, InvalidScopeError
        when the role allows none of the scopes asked for, InvalidLoginError for any other
        refusal.
        """
        key = users.username_key(username)
        # The attempt takes its slots before the password is checked, and keeps them unless
        # it succeeds: parallel guesses cannot all be checked before any is counted, and
        # during a lockout even the right password yields nothing.
        try:
            reservation = await self._throttle.reserve(self._throttle.login_limits(key, client))
        except ThrottledError as exc:
            audit("login_throttled", client=client, reason=exc.scope)
            raise
        user = await users.read_by_username(self._engine, username)
        # Hashing happens with no database connection held: a login storm must not drain the pool.
        valid, new_hash = await self._passwords.verify(
            password, user.password_hash if user else None
        )
        if user is None or not valid or not user.is_active:
            if user is None:
                audit("login_failed", client=client, reason="unknown_user")
            else:
                reason = "inactive" if valid else "bad_password"
                audit("login_failed", user_id=str(user.id), client=client, reason=reason)
            raise InvalidLoginError
        granted = _grant(scopes_of(user.role), scopes)
        if not granted and scopes is not None:
            audit("login_failed", user_id=str(user.id), client=client, reason="scope")
            raise InvalidScopeError
        issued = await self._start_session(user, client, user_agent, granted)
        if new_hash is not None:
            async with self._sessionmaker() as db:
                await users.replace_password_hash(
                    db, user.id, verified=user.password_hash, new=new_hash
                )
        # Decided: a success gives its slots back, so honest logins never add up to a lockout.
        await self._throttle.give_back(reservation)
        audit("login_succeeded", user_id=str(user.id), session_id=issued.session_id, client=client)
        return issued

    async def _start_session(
        self, user: User, client: str | None, user_agent: str | None, scopes: frozenset[str]
    ) -> IssuedTokens:
        """Issue the first token pair of a new session for `user`, whose password was checked.

        The store starts the session only if the password or account state it was checked
        against is still current: a change made while the password was hashing wins, and the
        login fails like a wrong password.
        """
        auth_time = int(time.time())
        issued = self._tokens.issue(
            str(user.id), uuid.uuid4().hex, auth_time, scopes, token_claims.custom_claims(user)
        )
        session = NewSession(
            user_id=str(user.id),
            session_id=issued.session_id,
            refresh_token_id=issued.refresh_token_id,
            expires_at=self._tokens.session_end(auth_time),
            credentials_version=user.credentials_version,
            client=bounded(client, MAX_CLIENT_LENGTH),
            user_agent=bounded(user_agent, MAX_USER_AGENT_LENGTH),
        )
        if not await self._store.start_session(session):
            audit("login_failed", user_id=str(user.id), client=client, reason="credentials_changed")
            raise InvalidLoginError
        return issued

    async def refresh(
        self,
        refresh_token: str,
        *,
        client: str | None,
        user_agent: str | None,
        scopes: frozenset[str] | None = None,
    ) -> IssuedTokens:
        """Trade a refresh token for a new pair; the old refresh token is spent, and the
        session records `client` and `user_agent` as its last use.

        The new tokens grant the login's scopes, or the `scopes` asked for, which must be
        among them (InvalidScopeError otherwise, and the refresh token is not spent).
        """
        try:
            claims = self._tokens.verify_refresh(refresh_token)
        except InvalidTokenError:
            raise InvalidRefreshTokenError from None
        if scopes is not None and not scopes <= claims.scopes:
            raise InvalidScopeError
        new_token_id = self._tokens.new_token_id()

        def make_tokens(user: User) -> IssuedTokens:
            # A role change ends the user's sessions, so the role here is the login's; the
            # intersection only keeps a token from ever holding more than the role allows.
            granted = _grant(scopes_of(user.role), scopes or claims.scopes)
            return self._tokens.issue(
                claims.user_id,
                claims.session_id,
                claims.auth_time,
                granted,
                token_claims.custom_claims(user),
                refresh_token_id=new_token_id,
            )

        # The store reads the user and makes the new tokens within the rotation's own atomic
        # step (one transaction on the database): if the database fails, or making the tokens
        # does (say, `custom_claims` raises), the old token is not spent and the client can
        # retry, instead of its retry looking like a stolen token's reuse.
        rotation = await self._store.rotate(
            claims.session_id,
            claims.token_id,
            new_token_id,
            user_id=claims.user_id,
            client=bounded(client, MAX_CLIENT_LENGTH),
            user_agent=bounded(user_agent, MAX_USER_AGENT_LENGTH),
            make_tokens=make_tokens,
        )
        if rotation.outcome is RotateOutcome.REUSED:
            audit(
                "refresh_token_reused",
                user_id=claims.user_id,
                session_id=claims.session_id,
                client=client,
            )
        if rotation.tokens is None:
            raise InvalidRefreshTokenError
        audit(
            "token_refreshed", user_id=claims.user_id, session_id=claims.session_id, client=client
        )
        return rotation.tokens

    async def logout(
        self, access: Claims, refresh_token: str | None, *, client: str | None
    ) -> None:
        """End the caller's session, and the refresh token's session if it is another of theirs.

        `access` are the claims of the token that authenticated the call: an access token, or
        in cookie mode possibly the refresh cookie's.
        """
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

    async def revoke(self, token: str, *, client: str | None) -> bool:
        """End the session of a refresh or access token (RFC 7009 section 2.1: revoking a
        refresh token also invalidates the access tokens of its grant, and here the other way
        round too, since both name one session). False when the token is not a valid one of
        ours: there is nothing to revoke. A refresh token of a session that has ended already
        ends it again, which changes nothing.
        """
        claims: Claims
        try:
            claims = self._tokens.verify_refresh(token)
        except InvalidTokenError:
            try:
                claims = self._tokens.verify_access(token)
            except InvalidTokenError:
                return False
        await self._store.revoke_session(claims.session_id, claims.user_id)
        audit("token_revoked", user_id=claims.user_id, session_id=claims.session_id, client=client)
        return True

    async def sessions(self, user_id: str) -> list[SessionInfo]:
        """The user's live sessions, oldest first."""
        return await self._store.list_sessions(user_id)

    async def end_session(self, caller: Claims, session_id: str, *, client: str | None) -> None:
        """End one of the caller's sessions, which may be the calling one.

        UnknownSessionError, the same for every reason, when it is not a live session of
        theirs: unknown, another user's, already ended or over. Nothing is revealed, so
        session ids cannot be probed.
        """
        if not await self._store.revoke_session(session_id, caller.user_id):
            raise UnknownSessionError
        audit(
            "session_ended",
            user_id=caller.user_id,
            session_id=session_id,
            client=client,
            reason="current" if session_id == caller.session_id else "other",
        )


def _grant(allowed: frozenset[str], requested: frozenset[str] | None) -> frozenset[str]:
    """The scopes to issue: those requested that are allowed, or all allowed ones when the
    client asked for none (RFC 6749 section 3.3 lets a server issue fewer than asked)."""
    return allowed if requested is None else allowed & requested
