"""How tokens travel without cookies: the Authorization header, and JSON bodies.

The router takes what differs between this and cookie mode (transport/cookies.py) from here: where
a refresh request's token is, which claims name the session a logout ends, and what else an
answer can be.
"""

from typing import Annotated, Any

from fastapi import Depends

from ...config import Settings
from ...security.tokens import TokenService
from ..authenticator import Authenticator
from ..dependencies import CurrentClaims
from ..schemas import RefreshRequest, TokenResponse


def build_authenticator(settings: Settings, tokens: TokenService) -> Authenticator:
    """The authenticator of this project: bearer tokens only."""
    return Authenticator(tokens)


async def _refresh_token(body: RefreshRequest) -> str:
    return body.refresh_token


RefreshTokenIn = Annotated[str, Depends(_refresh_token)]
# A logout names its session with its access token.
SessionClaims = CurrentClaims
# Login and refresh answer with the token pair.
TokenBody = TokenResponse
# Nothing beyond the usual answers.
TRANSPORT_RESPONSES: dict[int | str, dict[str, Any]] = {}
