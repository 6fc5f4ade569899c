"""Route dependencies: the app's services, and who is calling (`CurrentClaims`, `CurrentUser`).

Routes read like prose: `async def read_me(user: CurrentUser)`, `async def login(auth:
AuthServiceDep, ...)`. Each alias is an `Annotated[..., Depends(...)]`, so type checkers and
go-to-definition see what a route gets, and a test can replace any service:
`app.dependency_overrides[get_auth_service] = lambda: fake`.
"""

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..config import Settings
from ..security.keys import KeySet
from ..security.tokens import Claims
from ..users import repository as users
from ..users.cache import UserCache
from ..users.snapshot import UserSnapshot
from .accounts import AccountService
from .authenticator import CLAIMS_STATE_KEY, Authenticator
from .exceptions import AuthenticationError, InvalidAccessTokenError
from .service import AuthService
from .services import Services


async def get_services(request: Request) -> Services:
    """The app's services (main.create_app puts them on the app, the one `app.state` use)."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_settings(services: ServicesDep) -> Settings:
    return services.settings


async def get_sessionmaker(services: ServicesDep) -> async_sessionmaker[AsyncSession]:
    return services.sessionmaker


async def get_keys(services: ServicesDep) -> KeySet:
    """The key set in use right now: the token service's, which a key reload replaces."""
    return services.tokens.keys


async def get_user_cache(services: ServicesDep) -> UserCache:
    return services.user_cache


async def get_authenticator(services: ServicesDep) -> Authenticator:
    return services.authenticator


async def get_auth_service(services: ServicesDep) -> AuthService:
    return services.auth


async def get_account_service(services: ServicesDep) -> AccountService:
    return services.accounts


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionmakerDep = Annotated[async_sessionmaker[AsyncSession], Depends(get_sessionmaker)]
KeysDep = Annotated[KeySet, Depends(get_keys)]
UserCacheDep = Annotated[UserCache, Depends(get_user_cache)]
AuthenticatorDep = Annotated[Authenticator, Depends(get_authenticator)]
AuthServiceDep = Annotated[AuthService, Depends(get_auth_service)]
AccountServiceDep = Annotated[AccountService, Depends(get_account_service)]


def http_error(error: AuthenticationError) -> HTTPException:
    """A refused request as FastAPI's HTTP error: the error's own status, detail and headers."""
    return HTTPException(error.status_code, error.detail, headers=dict(error.headers))


def unauthorized(*, token_sent: bool) -> HTTPException:
    """A 401 with the challenge RFC 6750 asks for; the reason is never revealed."""
    return http_error(InvalidAccessTokenError() if token_sent else AuthenticationError())


def verify_request(request: Request, authenticator: Authenticator) -> Claims:
    """Verified access-token claims of this request, or the refusal as an HTTP error."""
    # AuthMiddleware, when the project has it, already ran the same authenticator on this
    # request: reuse its answer.
    claims: Claims | None = request.scope.get("state", {}).get(CLAIMS_STATE_KEY)
    if claims is not None:
        return claims
    try:
        return authenticator.authenticate(request.scope)
    except AuthenticationError as exc:
        raise http_error(exc) from None


class BearerAuth(OAuth2PasswordBearer):
    """OAuth2 password-flow security scheme: documents the login URL for Swagger UI's
    *Authorize* button, and authenticates with our own strict rules."""

    async def __call__(self, request: Request) -> Claims:  # type: ignore[override]
        # The hot path of every protected route: the authenticator is read straight from the
        # app's services instead of through two more dependencies, which cost as much as the
        # rest of the request. Tests replace what it verifies with through the settings.
        services: Services = request.app.state.services
        return verify_request(request, services.authenticator)


bearer_auth = BearerAuth(tokenUrl="/auth/login")

CurrentClaims = Annotated[Claims, Depends(bearer_auth)]


async def get_current_user(
    claims: CurrentClaims, cache: UserCacheDep, sessionmaker: SessionmakerDep
) -> UserSnapshot:
    """The caller's user; 401 if it was deleted or deactivated since the token was issued.

    Served from the per-process UserCache when it can be (users/cache.py says why that is
    safe); only a miss opens a database session, one for all the requests that miss at once.
    """

    async def load() -> UserSnapshot | None:
        async with sessionmaker() as db:
            user = await users.get_by_id(db, claims.user_id)
        return None if user is None else UserSnapshot.of(user)

    snapshot = await cache.get_or_load(claims.user_id, load)
    if snapshot is None or not snapshot.is_active:
        raise unauthorized(token_sent=True)
    return snapshot


CurrentUser = Annotated[UserSnapshot, Depends(get_current_user)]
