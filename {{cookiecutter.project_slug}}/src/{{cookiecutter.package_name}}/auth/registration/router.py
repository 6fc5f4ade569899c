"""POST /auth/register."""

from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, HTTPException, status

from ...security.throttle import ThrottledError
from ...users import repository as users
from ...users.models import User
from ...users.password_policy import PasswordPolicy
from ...users.schemas import UserPublic
from ..client_address import ClientAddress
from ..dependencies import ServicesDep
from ..responses import UNAVAILABLE, UNREADABLE_BODY, too_many_attempts
from ..schemas import ErrorResponse
from ..services import Services
from .exceptions import RegistrationRefusedError
from .schemas import RegisterRequest
from .service import Registration

router = APIRouter(prefix="/auth", tags=["auth"])


def install_registration(app: FastAPI, _: Services) -> None:
    app.include_router(router)


async def get_registration(services: ServicesDep) -> Registration:
    """The registration service, made of the app's services and the registration settings."""
    settings = services.settings
    return Registration(
        services.sessionmaker,
        services.passwords,
        services.throttle,
        PasswordPolicy(min_length=settings.password_min_length),
        per_address=settings.registration_max_per_address,
        window_seconds=settings.registration_window_seconds,
    )


RegistrationDep = Annotated[Registration, Depends(get_registration)]


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    response_model=UserPublic,
    responses={
        409: {"model": ErrorResponse, "description": "The username is not available"},
        429: {"model": ErrorResponse, "description": "Too many attempts; see Retry-After"},
    }
    | UNREADABLE_BODY
    | UNAVAILABLE,
)
async def register(
    client: ClientAddress, registration: RegistrationDep, body: RegisterRequest
) -> User:
    """Create an account. A refused username or password is a 422 whose `detail[0].type`
    names the rule (`password_too_short`, `password_contains_username`, `password_too_common`,
    `invalid_username`)."""
    try:
        return await registration.register(body.username, body.password, client=client)
    except RegistrationRefusedError as exc:
        # Shaped like FastAPI's own validation errors, so clients parse one format.
        detail = [{"type": exc.rule, "loc": ["body", exc.field], "msg": exc.message}]
        raise HTTPException(422, detail) from None
    except ThrottledError as exc:
        raise too_many_attempts(exc, "Too many attempts; try again later") from None
    except users.UsernameTakenError:
        raise HTTPException(status.HTTP_409_CONFLICT, "Username is not available") from None
