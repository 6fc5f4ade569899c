"""How tokens travel between clients and this service: `bearer.py` (the Authorization header
and JSON bodies) or `cookies.py` (HttpOnly cookies for browsers, with CSRF protection; it
accepts bearer tokens too). The project keeps the one it was generated with, and the rest of
the app imports it from here, so that choice is made in this one line."""

from .{{ "cookies" if cookiecutter.cookie_auth else "bearer" }} import (
    TRANSPORT_RESPONSES,
    RefreshTokenIn,
    SessionClaims,
    TokenBody,
    build_authenticator,
)

__all__ = [
    "TRANSPORT_RESPONSES",
    "RefreshTokenIn",
    "SessionClaims",
    "TokenBody",
    "build_authenticator",
]
