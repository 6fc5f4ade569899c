"""Route dependencies that authenticate the caller: `CurrentClaims` and `CurrentUser`.

Routes read like prose: `async def read_me(user: CurrentUser)`. Both aliases go through the
one verifier, `TokenService.verify_access`.
"""

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer

from ..security.tokens import Claims, InvalidTokenError, TokenService
from ..users import repository as users
from ..users.cache import UserCache, UserSnapshot


def unauthorized(*, token_sent: bool) -> HTTPException:
    """A 401 with the challenge RFC 6750 asks for; the reason is never revealed."""
    if token_sent:
        return HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "Invalid or expired token",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, "Not authenticated", headers={"WWW-Authenticate": "Bearer"}
    )


def bearer_token(request: Request) -> str:
    """The token of the one `Authorization: Bearer` header, or a 401.

    Two Authorization headers are refused rather than picking one: a proxy and the app could
    pick differently. Tokens in the query string or body are never looked at (RFC 6750 5.3).
    """
    # Read straight from the ASGI scope (names arrive lower-cased): building Starlette's
    # Headers object costs more than the rest of a cached verification.
    values = [value for name, value in request.scope["headers"] if name == b"authorization"]
    if not values:
        raise unauthorized(token_sent=False)
    scheme, _, token = values[0].decode("latin-1").partition(" ")
    if len(values) > 1 or scheme.lower() != "bearer" or not token:
        raise unauthorized(token_sent=True)
    return token


def verify_request(request: Request) -> Claims:
    """Verified access-token claims of this request, or a 401."""
    token = bearer_token(request)
    service: TokenService = request.app.state.tokens
    try:
        return service.verify_access(token)
    except InvalidTokenError:
        raise unauthorized(token_sent=True) from None


class BearerAuth(OAuth2PasswordBearer):
    """OAuth2 password-flow security scheme: documents the login URL for Swagger UI's
    *Authorize* button, and authenticates with our own strict rules."""

    async def __call__(self, request: Request) -> Claims:  # type: ignore[override]
        return verify_request(request)


bearer_auth = BearerAuth(tokenUrl="/auth/login")

CurrentClaims = Annotated[Claims, Depends(bearer_auth)]


async def get_current_user(request: Request, claims: CurrentClaims) -> UserSnapshot:
    """The caller's user; 401 if it was deleted or deactivated since the token was issued.

    Served from the per-process UserCache when it can be (see users/cache.py for why that is
    safe); only a miss opens a database session.
    """
    cache: UserCache = request.app.state.user_cache
    snapshot = cache.get(claims.user_id)
    if snapshot is None:
        async with request.app.state.sessionmaker() as db:
            user = await users.get_by_id(db, claims.user_id)
        if user is None or not user.is_active:
            raise unauthorized(token_sent=True)
        snapshot = UserSnapshot.of(user)
        cache.put(claims.user_id, snapshot)
    return snapshot


CurrentUser = Annotated[UserSnapshot, Depends(get_current_user)]
