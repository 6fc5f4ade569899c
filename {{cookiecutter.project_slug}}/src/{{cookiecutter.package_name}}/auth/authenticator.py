"""Who is calling: the one verifier behind the route dependencies and the optional middleware.

It reads the request's raw ASGI headers, so the dependency and a middleware (which has no
`Request`) share the exact same code and cannot disagree about a request.
"""

from collections.abc import Mapping
from typing import Any

from fastapi import Request, Response

from ..security.tokens import Claims, InvalidTokenError, IssuedTokens, TokenService
from .exceptions import AuthenticationError, InvalidAccessTokenError
from .schemas import TokenResponse

Scope = Mapping[str, Any]


# Where AuthMiddleware leaves the claims it verified (`request.state.claims` in a route), so
# the route's own dependency does not verify the same token twice.
CLAIMS_STATE_KEY = "claims"


def bearer_token(scope: Scope) -> str | None:
    """The token of the one `Authorization: Bearer` header, or None without the header.

    Two Authorization headers are refused rather than picking one: a proxy and the app could
    pick differently. Tokens in the query string or body are never looked at (RFC 6750 5.3).
    """
    value: bytes | None = None
    for name, header_value in scope["headers"]:
        # ASGI servers lower-case header names.
        if name == b"authorization":
            if value is not None:
                raise InvalidAccessTokenError
            value = header_value
    if value is None:
        return None
    # Whitespace around a field value is not part of it (RFC 9110 section 5.5); some HTTP
    # parsers strip it, others pass it on.
    scheme, _, token = value.decode("latin-1").strip(" \t").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise InvalidAccessTokenError
    return token


class Authenticator:
    """Reads a request's bearer token and verifies it with `TokenService.verify_access`."""

    def __init__(self, tokens: TokenService) -> None:
        self._tokens = tokens

    def authenticate(self, scope: Scope) -> Claims:
        """The verified claims of the request, else AuthenticationError."""
        token = bearer_token(scope)
        if token is None:
            raise AuthenticationError
        return self.verify(token)

    def verify(self, token: str) -> Claims:
        """The claims of a valid access token, else InvalidAccessTokenError."""
        try:
            return self._tokens.verify_access(token)
        except InvalidTokenError:
            raise InvalidAccessTokenError from None

    def tokens_issued(
        self, request: Request, response: Response, issued: IssuedTokens
    ) -> TokenResponse:
        """Login and refresh: the JSON body, whose tokens header clients keep themselves."""
        return TokenResponse(
            access_token=issued.access_token,
            refresh_token=issued.refresh_token,
            expires_in=issued.expires_in,
            scope=issued.scope,
        )

    def session_ended(self, request: Request, response: Response) -> None:
        """Logout: header clients hold nothing the server could clear."""
