"""HTTP face of authentication: /auth/login, /auth/refresh, /auth/logout, /auth/logout-all."""

from typing import Annotated

from fastapi import APIRouter, FastAPI, Form, HTTPException, Request, Response, status

from ..security.passwords import MAX_PASSWORD_LENGTH
from ..security.throttle import ThrottledError
from ..users.models import MAX_USERNAME_LENGTH
from .client_address import ClientAddress
from .dependencies import (
    AccountServiceDep,
    AuthenticatorDep,
    AuthServiceDep,
    CurrentClaims,
    unauthorized,
)
from .exceptions import InvalidLoginError, InvalidRefreshTokenError
from .responses import THROTTLED, UNAUTHORIZED, UNAVAILABLE, UNREADABLE_BODY
from .schemas import LogoutRequest
from .services import Services
from .transport.{{ "cookies" if cookiecutter.cookie_auth else "bearer" }} import TRANSPORT_RESPONSES, RefreshTokenIn, SessionClaims, TokenBody

router = APIRouter(prefix="/auth", tags=["auth"])


def install_auth_routes(app: FastAPI, _: Services) -> None:
    app.include_router(router)


def _token_response(response: Response, body: TokenBody) -> TokenBody:
    # Token responses must not be cached by browsers or proxies (RFC 6749 section 5.1).
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return body


@router.post(
    "/login",
    response_model=TokenBody,
    responses=UNAUTHORIZED | UNREADABLE_BODY | THROTTLED | UNAVAILABLE,
)
async def login(
    request: Request,
    response: Response,
    client: ClientAddress,
    auth: AuthServiceDep,
    authenticator: AuthenticatorDep,
    username: Annotated[str, Form(min_length=1, max_length=MAX_USERNAME_LENGTH)],
    password: Annotated[str, Form(min_length=1, max_length=MAX_PASSWORD_LENGTH)],
) -> TokenBody:
    """Exchange a username and password (OAuth2 password form) for a token pair."""
    try:
        issued = await auth.login(username, password, client=client)
    except ThrottledError as exc:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            "Too many failed login attempts; try again later",
            headers={"Retry-After": str(exc.retry_after)},
        ) from None
    except InvalidLoginError:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "Incorrect username or password",
            headers={"WWW-Authenticate": "Bearer"},
        ) from None
    return _token_response(response, authenticator.tokens_issued(request, response, issued))


@router.post(
    "/refresh",
    response_model=TokenBody,
    responses=UNAUTHORIZED | TRANSPORT_RESPONSES | UNREADABLE_BODY | UNAVAILABLE,
)
async def refresh(
    request: Request,
    response: Response,
    client: ClientAddress,
    auth: AuthServiceDep,
    authenticator: AuthenticatorDep,
    refresh_token: RefreshTokenIn,
) -> TokenBody:
    """Trade a refresh token for a new pair. Each refresh token works once: presenting a used
    one again is treated as theft and ends the whole session."""
    try:
        issued = await auth.refresh(refresh_token, client=client)
    except InvalidRefreshTokenError:
        raise unauthorized(token_sent=True) from None
    return _token_response(response, authenticator.tokens_issued(request, response, issued))


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=UNAUTHORIZED | TRANSPORT_RESPONSES | UNREADABLE_BODY | UNAVAILABLE,
)
async def logout(
    request: Request,
    response: Response,
    claims: SessionClaims,
    client: ClientAddress,
    auth: AuthServiceDep,
    authenticator: AuthenticatorDep,
    body: LogoutRequest | None = None,
) -> None:
    """End the session: its access and refresh tokens stop working at once."""
    await auth.logout(claims, body.refresh_token if body else None, client=client)
    authenticator.session_ended(request, response)


@router.post(
    "/logout-all",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=UNAUTHORIZED | TRANSPORT_RESPONSES | UNAVAILABLE,
)
async def logout_all(
    claims: CurrentClaims, client: ClientAddress, accounts: AccountServiceDep
) -> None:
    """End every session of the caller, on every device: use it after a suspected theft."""
    await accounts.revoke_all(claims.user_id, reason="logout_all", client=client)
