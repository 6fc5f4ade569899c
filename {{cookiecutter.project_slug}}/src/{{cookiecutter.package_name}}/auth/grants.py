"""The grants the token endpoint accepts (RFC 6749 sections 4.3 and 6) and its refusals
(section 5.2), independent of the route that answers them.

A refusal is a 400 with `{"error", "error_description"}`: what standard clients (authlib,
requests-oauthlib) parse into an exception with the error code. The description is fixed text,
never the request's input, and the same for an unknown user as for a wrong password.
"""

from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Literal

from fastapi import status
from fastapi.responses import JSONResponse

from ..security.passwords import MAX_PASSWORD_LENGTH
from ..security.tokens import MAX_TOKEN_LENGTH, IssuedTokens
from ..users.models import MAX_USERNAME_LENGTH
from ..users.roles import SCOPES
from .exceptions import InvalidLoginError, InvalidRefreshTokenError, InvalidScopeError
from .schemas import OAuth2Error, TokenRequest
from .service import AuthService

ErrorCode = Literal["invalid_request", "invalid_grant", "unsupported_grant_type", "invalid_scope"]


class OAuth2RequestError(Exception):
    """A token (or revocation) request refused with an RFC 6749 section 5.2 error."""

    def __init__(self, error: ErrorCode, description: str) -> None:
        super().__init__(error)
        self.error = error
        self.description = description

    def response(self) -> JSONResponse:
        # Section 5.2's example answer carries the same no-cache headers as a token (5.1).
        body = OAuth2Error(error=self.error, error_description=self.description)
        return JSONResponse(
            body.model_dump(),
            status_code=status.HTTP_400_BAD_REQUEST,
            headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
        )


@dataclass(frozen=True, slots=True)
class PasswordGrant:
    """Resource owner password credentials (RFC 6749 section 4.3.2)."""

    username: str
    password: str
    # The scopes asked for, or None to be granted all the user's role allows.
    scopes: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class RefreshGrant:
    """Refreshing an access token (RFC 6749 section 6)."""

    refresh_token: str
    # A subset of the login's scopes, or None to keep all of them.
    scopes: frozenset[str] | None = None


Grant = PasswordGrant | RefreshGrant


def repeated_parameters(keys: Iterable[str]) -> list[str]:
    """The token parameters among a form's `keys` that were sent more than once: section 3.2
    says a parameter must not be, and reading either copy would let a proxy in front and
    this server see different requests."""
    counts = Counter(keys)
    return sorted(name for name in TokenRequest.model_fields if counts[name] > 1)


def _required(value: str | None, name: str, max_length: int) -> str:
    if value is None:
        raise OAuth2RequestError("invalid_request", f"Missing parameter: {name}")
    if len(value) > max_length:
        raise OAuth2RequestError("invalid_request", f"Parameter too long: {name}")
    return value


def read_grant(form: TokenRequest, repeated: Collection[str]) -> Grant:
    """The grant a token request asks for, or an OAuth2RequestError saying what is wrong with it.

    Empty form values count as missing (FastAPI reads them as absent).
    """
    if repeated:
        raise OAuth2RequestError("invalid_request", "Repeated parameter: " + ", ".join(repeated))
    if form.grant_type is None:
        raise OAuth2RequestError("invalid_request", "Missing parameter: grant_type")
    scopes = requested_scopes(form.scope)
    if form.grant_type == "password":
        return PasswordGrant(
            _required(form.username, "username", MAX_USERNAME_LENGTH),
            _required(form.password, "password", MAX_PASSWORD_LENGTH),
            scopes,
        )
    if form.grant_type == "refresh_token":
        return RefreshGrant(
            _required(form.refresh_token, "refresh_token", MAX_TOKEN_LENGTH), scopes
        )
    raise OAuth2RequestError("unsupported_grant_type", "Supported: password, refresh_token")


def requested_scopes(scope: str | None) -> frozenset[str] | None:
    """The scopes a `scope` parameter asks for (space-separated, section 3.3), or None when it
    asks for none: Swagger UI sends an empty one. A scope this server does not know is
    `invalid_scope`; the answer does not repeat it."""
    if scope is None or not scope.strip():
        return None
    scopes = frozenset(scope.split())
    if not scopes <= SCOPES.keys():
        raise OAuth2RequestError("invalid_scope", "Unknown scope requested")
    return scopes


async def exchange(
    grant: Grant, auth: AuthService, *, client: str | None, user_agent: str | None
) -> IssuedTokens:
    """Tokens for a grant, through the same AuthService calls as /auth/refresh; `client` and
    `user_agent` are the caller's, recorded with the session.

    A wrong password (or unknown user) and a bad, spent or expired refresh token are all
    `invalid_grant` (section 5.2); scopes the user or the refresh token may not have are
    `invalid_scope`. ThrottledError passes through: the route answers 429.
    """
    try:
        if isinstance(grant, PasswordGrant):
            try:
                return await auth.login(
                    grant.username,
                    grant.password,
                    client=client,
                    user_agent=user_agent,
                    scopes=grant.scopes,
                )
            except InvalidLoginError:
                raise OAuth2RequestError(
                    "invalid_grant", "Incorrect username or password"
                ) from None
        try:
            return await auth.refresh(
                grant.refresh_token, client=client, user_agent=user_agent, scopes=grant.scopes
            )
        except InvalidRefreshTokenError:
            raise OAuth2RequestError("invalid_grant", "Invalid or expired refresh token") from None
    except InvalidScopeError:
        raise OAuth2RequestError(
            "invalid_scope", "The requested scope exceeds what may be granted"
        ) from None
