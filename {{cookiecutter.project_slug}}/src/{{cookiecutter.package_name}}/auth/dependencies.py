"""Route dependencies: the app's services, who is calling (`CurrentClaims`, `CurrentUser`) and
what they may do (scopes, `Security(bearer_auth, scopes=[...])`, and a recent login).

Routes read like prose: `async def read_me(user: CurrentUser)`, `async def login(auth:
AuthServiceDep, ...)`. Each alias is an `Annotated[..., Depends(...)]`, so type checkers and
go-to-definition see what a route gets, and a test can replace any service:
`app.dependency_overrides[get_auth_service] = lambda: fake`.
"""

import functools
import time
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import OAuth2PasswordBearer, SecurityScopes
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..config import Settings
from ..security.keys import KeySet
from ..security.tokens import Claims
from ..users import repository as users
from ..users.cache import UserCache
from ..users.roles import SCOPES
from ..users.snapshot import UserSnapshot
from .accounts import AccountService
from .authenticator import CLAIMS_STATE_KEY, Authenticator
from .exceptions import AuthenticationError, InvalidAccessTokenError, LoginTooOldError
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


def insufficient_scope(required: SecurityScopes) -> HTTPException:
    """403 naming the scopes the route needs (RFC 6750 section 3.1): the token is fine, but
    does not grant enough; a token with them, not the same one again, would succeed."""
    challenge = f'Bearer error="insufficient_scope", scope="{required.scope_str}"'
    return HTTPException(
        status.HTTP_403_FORBIDDEN, "Not enough permissions", {"WWW-Authenticate": challenge}
    )


def authorize(request: Request, security_scopes: SecurityScopes) -> Claims:
    """Verified claims that grant every scope in `security_scopes`, else the HTTP refusal.

    The hot path of every protected route: the authenticator is read straight from the app's
    services instead of through two more dependencies, which cost as much as the rest of the
    request. Tests replace what it verifies with through the settings.
    """
    services: Services = request.app.state.services
    claims = verify_request(request, services.authenticator)
    # A set lookup on the verified token: no database round trip.
    for scope in security_scopes.scopes:
        if scope not in claims.scopes:
            raise insufficient_scope(security_scopes)
    return claims


class BearerAuth(OAuth2PasswordBearer):
    """OAuth2 password-flow security scheme: documents the login URL and the scopes for
    Swagger UI's *Authorize* button, and authenticates with our own strict rules.

    A route asks for scopes with `Security(bearer_auth, scopes=[...])`, or `Security(dep,
    scopes=...)` on any dependency that depends on this one: FastAPI hands every scope
    declared above this scheme to `security_scopes`, and shows them in the OpenAPI document.
    """

    async def __call__(  # type: ignore[override]
        self, request: Request, security_scopes: SecurityScopes
    ) -> Claims:
        return authorize(request, security_scopes)


bearer_auth = BearerAuth(tokenUrl="/auth/login", scopes=SCOPES)

CurrentClaims = Annotated[Claims, Depends(bearer_auth)]


async def recent_login(claims: CurrentClaims, settings: SettingsDep) -> Claims:
    """The caller's claims, if their session logged in within FRESH_AUTH_MINUTES.

    For what a stolen access token must not be enough for: changing the password, ending
    sessions, administration. Otherwise 401 with RFC 9470's
    `insufficient_user_authentication` and the `max_age` a new login must meet, so a client
    knows to ask for the password again rather than to refresh.
    """
    if time.time() - claims.auth_time > settings.fresh_auth_seconds:
        raise http_error(LoginTooOldError(settings.fresh_auth_seconds))
    return claims


RecentClaims = Annotated[Claims, Depends(recent_login)]
# Routes about the caller's own account: the `profile` scope...
ProfileClaims = Annotated[Claims, Security(bearer_auth, scopes=["profile"])]
# ...and changing it: a recent login too (a stolen access token alone must not end the
# owner's sessions or take over the password).
RecentProfileClaims = Annotated[Claims, Security(recent_login, scopes=["profile"])]
# Administration (the `admin` scope) always needs a recent login as well.
AdminClaims = Annotated[Claims, Security(recent_login, scopes=["admin"])]


class UserAuth(BearerAuth):
    """`CurrentUser`'s scheme: the caller's user, for a token with the `profile` scope; 401 if
    the user was deleted or deactivated since the token was issued.

    The same checks as `bearer_auth` and the user in one dependency, not a dependency on top
    of it: each level of FastAPI's dependency resolution costs about as much as a cached
    user lookup. Served from the per-process UserCache when it can be (users/cache.py says
    why that is safe); only a miss opens a database session, one for all the requests that
    miss at once. The cache and the sessionmaker are read from the app's services, like
    `authorize` reads the authenticator.
    """

    async def __call__(  # type: ignore[override]
        self, request: Request, security_scopes: SecurityScopes
    ) -> UserSnapshot:
        claims = authorize(request, security_scopes)
        services: Services = request.app.state.services
        cache = services.user_cache
        snapshot = cache.get(claims.user_id)
        if snapshot is None:
            snapshot = await cache.get_or_load(
                claims.user_id,
                functools.partial(_load_user, services.sessionmaker, claims.user_id),
            )
        if snapshot is None or not snapshot.is_active:
            raise unauthorized(token_sent=True)
        return snapshot


# The same scheme name as `bearer_auth`: the OpenAPI document lists one scheme, used by both.
user_auth = UserAuth(tokenUrl="/auth/login", scopes=SCOPES, scheme_name="BearerAuth")


async def _load_user(
    sessionmaker: async_sessionmaker[AsyncSession], user_id: str
) -> UserSnapshot | None:
    async with sessionmaker() as db:
        user = await users.get_by_id(db, user_id)
    return None if user is None else UserSnapshot.of(user)


CurrentUser = Annotated[UserSnapshot, Security(user_auth, scopes=["profile"])]
