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
from .schemas import RegisterRequest, register_request
from .service import Registration


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


async def _register(
    client: ClientAddress, registration: Registration, body: RegisterRequest
) -> User:
    """The new user, or the HTTP error that says why there is none."""
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


def install_registration(app: FastAPI, services: Services) -> None:
    """POST /auth/register, its body documented with this app's PASSWORD_MIN_LENGTH."""
    body_type = register_request(services.settings.password_min_length)

    async def register(
        client: ClientAddress,
        registration: RegistrationDep,
        body: body_type,  # type: ignore[valid-type]
    ) -> User:
        """Create an account. A refused username or password is a 422 whose `detail[0].type`
        names the rule (`password_too_short`, `password_blank`, `password_contains_username`,
        `password_contains_service_name`, `password_too_common`, `password_repetitive`,
        `invalid_username`)."""
        return await _register(client, registration, body)

    router = APIRouter(prefix="/auth", tags=["auth"])
    router.add_api_route(
        "/register",
        register,
        methods=["POST"],
        status_code=status.HTTP_201_CREATED,
        response_model=UserPublic,
        responses={
            409: {"model": ErrorResponse, "description": "The username is not available"},
            429: {"model": ErrorResponse, "description": "Too many attempts; see Retry-After"},
        }
        | UNREADABLE_BODY
        | UNAVAILABLE,
    )
    app.include_router(router)
