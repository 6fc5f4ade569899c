"""Route dependencies that authenticate the caller: `CurrentClaims` and `CurrentUser`.

Routes read like prose: `async def read_me(user: CurrentUser)`. Both aliases go through the
one verifier, the app's `Authenticator` (see authenticator.py).
"""

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import OAuth2PasswordBearer

from ..security.tokens import Claims
from ..users import repository as users
from ..users.cache import UserCache, UserSnapshot
from .authenticator import AuthenticationError, Authenticator, InvalidCredentialsError
{%- if cookiecutter.use_middleware %}
from .middleware import CLAIMS_STATE_KEY
{%- endif %}


def http_error(error: AuthenticationError) -> HTTPException:
    """A refused request as FastAPI's HTTP error: the error's own status, detail and headers."""
    return HTTPException(error.status_code, error.detail, headers=dict(error.headers))


def unauthorized(*, token_sent: bool) -> HTTPException:
    """A 401 with the challenge RFC 6750 asks for; the reason is never revealed."""
    return http_error(InvalidCredentialsError() if token_sent else AuthenticationError())


def verify_request(request: Request) -> Claims:
    """Verified access-token claims of this request, or the refusal as an HTTP error."""
{%- if cookiecutter.use_middleware %}
    # AuthMiddleware already ran the same authenticator on this request; reuse its answer.
    claims: Claims | None = request.scope.get("state", {}).get(CLAIMS_STATE_KEY)
    if claims is not None:
        return claims
{%- endif %}
    authenticator: Authenticator = request.app.state.authenticator
    try:
        return authenticator.authenticate(request.scope)
    except AuthenticationError as exc:
        raise http_error(exc) from None


class BearerAuth(OAuth2PasswordBearer):
    """OAuth2 password-flow security scheme: documents the login URL for Swagger UI's
    *Authorize* button, and authenticates with our own strict rules."""

    async def __call__(self, request: Request) -> Claims:  # type: ignore[override]
        return verify_request(request)


bearer_auth = BearerAuth(tokenUrl="/auth/login")

CurrentClaims = Annotated[Claims, Depends(bearer_auth)]


async def get_current_user(request: Request, claims: CurrentClaims) -> UserSnapshot:
    """The caller's user; 401 if it was deleted or deactivated since the token was issued.

    Served from the per-process UserCache when it can be (users/cache.py says why that is
    safe); only a miss opens a database session, one for all the requests that miss at once.
    """
    cache: UserCache = request.app.state.user_cache

    async def load() -> UserSnapshot | None:
        async with request.app.state.sessionmaker() as db:
            user = await users.get_by_id(db, claims.user_id)
        return None if user is None else UserSnapshot.of(user)

    snapshot = await cache.get_or_load(claims.user_id, load)
    if snapshot is None or not snapshot.is_active:
        raise unauthorized(token_sent=True)
    return snapshot


CurrentUser = Annotated[UserSnapshot, Depends(get_current_user)]
