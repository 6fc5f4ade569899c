"""HTTP face of authentication: /auth/login, /auth/refresh, /auth/logout, /auth/logout-all."""

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request, Response, status

from ..security.passwords import MAX_PASSWORD_LENGTH
from ..security.throttle import ThrottledError
from ..security.tokens import IssuedTokens
from ..users.models import MAX_USERNAME_LENGTH
from .accounts import AccountService
from .client_address import ClientAddress
{%- if cookiecutter.cookie_auth %}
from .cookies import (
    LogoutClaims,
    clear_session_cookies,
    refresh_token_from_cookie,
    set_session_cookies,
)
{%- endif %}
from .dependencies import CurrentClaims, unauthorized
from .schemas import ErrorResponse, LogoutRequest, RefreshRequest, TokenResponse
from .service import AuthService, InvalidCredentialsError, InvalidRefreshTokenError

router = APIRouter(prefix="/auth", tags=["auth"])

UNAUTHORIZED = {
    401: {"model": ErrorResponse, "description": "Missing, invalid or expired credentials"}
}
THROTTLED = {
    429: {"model": ErrorResponse, "description": "Too many failed logins; see Retry-After"}
}
# A body the app cannot read: not decodable (bad UTF-8 in JSON, broken form encoding), or
# over MAX_BODY_BYTES, refused before it is read (body_limit.py).
UNREADABLE_BODY = {
    400: {"model": ErrorResponse, "description": "Request body could not be parsed"},
    413: {"model": ErrorResponse, "description": "Request body too large"},
}
# The database (or another backend) cannot be reached: try again later; never a traceback.
UNAVAILABLE = {503: {"model": ErrorResponse, "description": "Service temporarily unavailable"}}
{%- if cookiecutter.cookie_auth %}
FORBIDDEN = {
    403: {"model": ErrorResponse, "description": "Cookie sent without a valid X-CSRF-Token"}
}
{%- endif %}


def _service(request: Request) -> AuthService:
    return request.app.state.auth


def _token_response(response: Response, issued: IssuedTokens) -> TokenResponse:
    # Token responses must not be cached by browsers or proxies (RFC 6749 section 5.1).
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return TokenResponse(
        access_token=issued.access_token,
        refresh_token=issued.refresh_token,
        expires_in=issued.expires_in,
    )


@router.post(
    "/login",
    response_model=TokenResponse,
    responses=UNAUTHORIZED | UNREADABLE_BODY | THROTTLED | UNAVAILABLE,
)
async def login(
    request: Request,
    response: Response,
    client: ClientAddress,
    username: Annotated[str, Form(min_length=1, max_length=MAX_USERNAME_LENGTH)],
    password: Annotated[str, Form(min_length=1, max_length=MAX_PASSWORD_LENGTH)],
) -> TokenResponse:
    """Exchange a username and password (OAuth2 password form) for a token pair."""
    try:
        issued = await _service(request).login(username, password, client=client)
    except ThrottledError as exc:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            "Too many failed login attempts; try again later",
            headers={"Retry-After": str(exc.retry_after)},
        ) from None
    except InvalidCredentialsError:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "Incorrect username or password",
            headers={"WWW-Authenticate": "Bearer"},
        ) from None
{%- if cookiecutter.cookie_auth %}
    set_session_cookies(request, response, issued)
{%- endif %}
    return _token_response(response, issued)
{%- if cookiecutter.cookie_auth %}


@router.post(
    "/refresh",
    response_model=TokenResponse,
    responses=UNAUTHORIZED | FORBIDDEN | UNREADABLE_BODY | UNAVAILABLE,
)
async def refresh(
    request: Request, response: Response, client: ClientAddress, body: RefreshRequest | None = None
) -> TokenResponse:
    """Trade a refresh token, from the JSON body or else the refresh cookie (which needs
    X-CSRF-Token), for a new pair. Each refresh token works once: presenting a used one again
    is treated as theft and ends the whole session."""
    refresh_token = body.refresh_token if body else refresh_token_from_cookie(request)
    try:
        issued = await _service(request).refresh(refresh_token, client=client)
    except InvalidRefreshTokenError:
        raise unauthorized(token_sent=True) from None
    set_session_cookies(request, response, issued)
    return _token_response(response, issued)


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=UNAUTHORIZED | FORBIDDEN | UNREADABLE_BODY | UNAVAILABLE,
)
async def logout(
    request: Request,
    response: Response,
    claims: LogoutClaims,
    client: ClientAddress,
    body: LogoutRequest | None = None,
) -> None:
    """End the session: its access and refresh tokens stop working at once, and its cookies
    are expired. The access token (header or cookie) or the refresh cookie names the session,
    so a browser whose access cookie has expired can still log out."""
    await _service(request).logout(claims, body.refresh_token if body else None, client=client)
    clear_session_cookies(request, response)
{%- else %}


@router.post(
    "/refresh",
    response_model=TokenResponse,
    responses=UNAUTHORIZED | UNREADABLE_BODY | UNAVAILABLE,
)
async def refresh(
    request: Request, response: Response, client: ClientAddress, body: RefreshRequest
) -> TokenResponse:
    """Trade a refresh token for a new pair. Each refresh token works once: presenting a used
    one again is treated as theft and ends the whole session."""
    try:
        issued = await _service(request).refresh(body.refresh_token, client=client)
    except InvalidRefreshTokenError:
        raise unauthorized(token_sent=True) from None
    return _token_response(response, issued)


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=UNAUTHORIZED | UNREADABLE_BODY | UNAVAILABLE,
)
async def logout(
    request: Request,
    claims: CurrentClaims,
    client: ClientAddress,
    body: LogoutRequest | None = None,
) -> None:
    """End the session: its access and refresh tokens stop working at once."""
    await _service(request).logout(claims, body.refresh_token if body else None, client=client)
{%- endif %}


@router.post(
    "/logout-all",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=UNAUTHORIZED | {% if cookiecutter.cookie_auth %}FORBIDDEN | {% endif %}UNAVAILABLE,
)
async def logout_all(request: Request, claims: CurrentClaims, client: ClientAddress) -> None:
    """End every session of the caller, on every device: use it after a suspected theft."""
    accounts: AccountService = request.app.state.accounts
    await accounts.revoke_all(claims.user_id, reason="logout_all", client=client)
