"""HTTP face of authentication: /auth/login (the OAuth2 token endpoint), /auth/refresh,
/auth/logout, /auth/logout-all."""

from typing import Annotated

from fastapi import APIRouter, FastAPI, Form, Request, Response, status
from fastapi.responses import JSONResponse

from ..security.throttle import ThrottledError
from .client_address import ClientAddress
from .dependencies import (
    AccountServiceDep,
    AuthenticatorDep,
    AuthServiceDep,
    CurrentClaims,
    unauthorized,
)
from .exceptions import InvalidRefreshTokenError
from .grants import OAuth2RequestError, exchange, read_grant, repeated_parameters
from .responses import (
    THROTTLED,
    TOKEN_ERRORS,
    UNAUTHORIZED,
    UNAVAILABLE,
    UNREADABLE_BODY,
    too_many_attempts,
)
from .schemas import LogoutRequest, TokenRequest
from .services import Services
from .session_details import UserAgent
from .transport import TRANSPORT_RESPONSES, RefreshTokenIn, SessionClaims, TokenBody

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
    responses=TOKEN_ERRORS | THROTTLED | UNAVAILABLE,
)
async def login(
    request: Request,
    response: Response,
    client: ClientAddress,
    user_agent: UserAgent,
    auth: AuthServiceDep,
    authenticator: AuthenticatorDep,
    form: Annotated[TokenRequest, Form()],
) -> TokenBody | JSONResponse:
    """The OAuth2 token endpoint (RFC 6749): `grant_type=password` with `username` and
    `password` (section 4.3.2, what Swagger UI's Authorize sends), or
    `grant_type=refresh_token` with `refresh_token` (section 6, the same rotation as
    /auth/refresh). A public client: no client authentication, `client_id` is ignored."""
    try:
        sent = [name for name, _ in (await request.form()).multi_items()]
        grant = read_grant(form, repeated_parameters(sent))
        issued = await exchange(grant, auth, client=client, user_agent=user_agent)
    except OAuth2RequestError as exc:
        return exc.response()
    except ThrottledError as exc:
        raise too_many_attempts(exc, "Too many failed login attempts; try again later") from None
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
    user_agent: UserAgent,
    auth: AuthServiceDep,
    authenticator: AuthenticatorDep,
    refresh_token: RefreshTokenIn,
) -> TokenBody:
    """Trade a refresh token for a new pair. Each refresh token works once: presenting a used
    one again is treated as theft and ends the whole session."""
    try:
        issued = await auth.refresh(refresh_token, client=client, user_agent=user_agent)
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
