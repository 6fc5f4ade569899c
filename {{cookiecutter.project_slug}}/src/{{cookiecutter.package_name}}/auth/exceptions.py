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


class LoginTooOldError(AuthenticationError):
    """The token is valid, but its session logged in too long ago for this operation
    (RFC 9470 section 3: step-up authentication)."""

    detail = "A more recent login is required"

    def __init__(self, max_age_seconds: int) -> None:
        super().__init__(self.detail)
        self.headers = {
            "WWW-Authenticate": 'Bearer error="insufficient_user_authentication", '
            f'error_description="A more recent login is required", max_age={max_age_seconds}'
        }


class InvalidLoginError(Exception):
    """Wrong username or password; deliberately does not say which."""


class InvalidScopeError(Exception):
    """The scopes asked for are more than the login or refresh token may be granted."""


class InvalidRefreshTokenError(Exception):
    """The refresh token is invalid, expired, revoked or was already used."""


class UnknownSessionError(LookupError):
    """Not a live session of the caller's: unknown, another user's, ended or over (which one
    is deliberately not said)."""


class WrongPasswordError(Exception):
    """The current password given to change it is not the account's password."""
