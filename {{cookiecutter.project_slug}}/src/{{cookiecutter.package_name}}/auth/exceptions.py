"""Why an authentication step failed. The router and the dependencies turn these into answers;
the reason a credential failed stays on the server."""

from collections.abc import Mapping


class AuthenticationError(Exception):
    """No credentials: the request is refused with this status, detail and headers."""

    status_code = 401
    detail = "Not authenticated"
    # The challenge RFC 6750 section 3 asks for.
    headers: Mapping[str, str] = {"WWW-Authenticate": "Bearer"}


class InvalidAccessTokenError(AuthenticationError):
    """An access token was sent but is not acceptable (bad, expired, revoked or ambiguous)."""

    detail = "Invalid or expired token"
    headers: Mapping[str, str] = {"WWW-Authenticate": 'Bearer error="invalid_token"'}


class InvalidLoginError(Exception):
    """Wrong username or password; deliberately does not say which."""


class InvalidRefreshTokenError(Exception):
    """The refresh token is invalid, expired, revoked or was already used."""
