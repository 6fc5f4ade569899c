"""/users endpoints: they show and change the authenticated caller, so they live with
authentication (users/ holds the table, the repository and the cache, and knows nothing of
tokens)."""

from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Response, status

from ..security.throttle import ThrottledError
from ..users.password_policy import PasswordPolicy, PasswordRejectedError
from ..users.schemas import UserPublic
from .client_address import ClientAddress
from .dependencies import CurrentUser, RecentProfileClaims, ServicesDep, unauthorized
from .exceptions import InvalidAccessTokenError, WrongPasswordError
from .password_change import PasswordChange
from .responses import (
    FORBIDDEN,
    STALE_LOGIN,
    THROTTLED,
    UNAUTHORIZED,
    UNAVAILABLE,
    UNREADABLE_BODY,
    Responses,
    combined,
    too_many_attempts,
)
from .schemas import ErrorResponse, PasswordChangeRequest
from .services import Services
from .transport import TRANSPORT_RESPONSES

router = APIRouter(prefix="/users", tags=["users"])

# 400, not 401: the token is fine and a new login would not help; this request's password is
# wrong. No WWW-Authenticate, so clients do not drop a working session over a typo.
WRONG_PASSWORD: Responses = {
    400: {"model": ErrorResponse, "description": "The current password is incorrect"}
}


def install_users_routes(app: FastAPI, _: Services) -> None:
    app.include_router(router)


async def get_password_change(services: ServicesDep) -> PasswordChange:
    """The password change service, with the same policy as registration and the CLI."""
    return PasswordChange(
        services.sessionmaker,
        services.passwords,
        services.throttle,
        PasswordPolicy(min_length=services.settings.password_min_length),
        services.accounts,
    )


PasswordChangeDep = Annotated[PasswordChange, Depends(get_password_change)]


@router.get("/me", response_model=UserPublic, responses=UNAUTHORIZED | UNAVAILABLE)
async def read_me(user: CurrentUser) -> Response:
    """The authenticated user, from the database or the few-seconds user cache."""
    # UserPublic's JSON, rendered when the snapshot was loaded: FastAPI would validate and
    # serialize the same snapshot again on every request. `response_model` still documents it.
    return Response(user.public(), media_type="application/json")


@router.post(
    "/me/password",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=combined(
        WRONG_PASSWORD,
        UNREADABLE_BODY,
        STALE_LOGIN,
        FORBIDDEN,
        TRANSPORT_RESPONSES,
        THROTTLED,
        UNAVAILABLE,
    ),
)
async def change_password(
    claims: RecentProfileClaims,
    client: ClientAddress,
    change: PasswordChangeDep,
    body: PasswordChangeRequest,
) -> None:
    """Change the caller's password. Needs the `profile` scope and a recent login.

    Every other session of the user ends (refresh tokens at once, access tokens within the
    revocation delay); the calling session goes on, and its refresh token keeps working.
    A wrong `current_password` is a 400 and counts as a failed login to the account (429
    with Retry-After once the limit is reached); a `new_password` the policy refuses is a
    422 whose `detail[0].type` names the rule, as at registration."""
    try:
        await change.change(claims, body.current_password, body.new_password, client=client)
    except WrongPasswordError:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "Current password is incorrect") from None
    except PasswordRejectedError as exc:
        # Shaped like FastAPI's own validation errors, so clients parse one format.
        detail = [{"type": exc.rule, "loc": ["body", "new_password"], "msg": exc.message}]
        raise HTTPException(422, detail) from None
    except ThrottledError as exc:
        raise too_many_attempts(exc, "Too many failed attempts; try again later") from None
    except InvalidAccessTokenError:
        raise unauthorized(token_sent=True) from None
