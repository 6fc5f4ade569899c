"""POST /auth/revoke: token revocation (RFC 7009), for clients that log out the standard way
(authlib's `revoke_token`, requests-oauthlib, mobile SDKs) rather than with /auth/logout.

No client authentication: the clients of this service are public (RFC 6749 section 2.1), with
no secret to prove. Holding a token is enough to use it, so holding it is enough to end it.
"""

from typing import Annotated

from fastapi import APIRouter, FastAPI, Form, Response, status

from .client_address import ClientAddress
from .dependencies import AuthServiceDep
from .grants import OAuth2RequestError
from .responses import TOKEN_ERRORS, UNAVAILABLE
from .schemas import RevocationRequest
from .services import Services

router = APIRouter(prefix="/auth", tags=["auth"])


def install_revocation(app: FastAPI, _: Services) -> None:
    app.include_router(router)


@router.post(
    "/revoke",
    response_class=Response,
    responses={200: {"description": "Revoked, or nothing to revoke: the same answer"}}
    | TOKEN_ERRORS
    | UNAVAILABLE,
)
async def revoke(
    client: ClientAddress, auth: AuthServiceDep, form: Annotated[RevocationRequest, Form()]
) -> Response:
    """End the session of an access or refresh token: both stop working at once.

    An invalid, expired, unknown or already revoked token gets the same empty 200 (RFC 7009
    section 2.2: the client could do nothing with an error, and the answer reveals nothing
    about the token). Only a request without a `token` is refused (400 `invalid_request`).
    """
    if form.token is None:
        return OAuth2RequestError("invalid_request", "Missing parameter: token").response()
    await auth.revoke(form.token, client=client)
    return Response(status_code=status.HTTP_200_OK, headers={"Cache-Control": "no-store"})
