"""POST /auth/register: anyone may create an account, under a password policy and throttling.

Registration necessarily says whether a username is free (409), which is how anyone can
learn that an account exists. That is accepted here, as on most sign-up forms, and made
expensive instead: a 409 costs the same password hash as a success (the insert decides, after
hashing), it needs a password that passes the policy first, and it counts against the same
per-username throttle as failed logins. Hiding it fully needs an out-of-band step (a mail
with a link), which this template does not have.
"""

from typing import Annotated

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..audit import audit
from ..security.password_policy import PasswordPolicy, PasswordRejectedError
from ..security.passwords import MAX_PASSWORD_LENGTH, PasswordHasher
from ..security.throttle import LoginThrottle
from ..users import repository as users
from ..users.models import MAX_USERNAME_LENGTH, User
from ..users.schemas import UserPublic
from .client_address import ClientAddress
from .router import UNAVAILABLE, UNREADABLE_BODY
from .schemas import ErrorResponse
from .service import LoginThrottledError

router = APIRouter(prefix="/auth", tags=["auth"])


class RegisterRequest(BaseModel):
    # Unknown fields are refused, so `"is_active": ...` or any future column can never be
    # set by the caller (mass assignment).
    model_config = ConfigDict(extra="forbid")

    username: Annotated[str, Field(min_length=1, max_length=MAX_USERNAME_LENGTH)]
    password: Annotated[str, Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)]


class RegistrationRefusedError(Exception):
    """The username or password breaks a rule; `rule` names it and `field` says which input."""

    def __init__(self, field: str, rule: str, message: str) -> None:
        super().__init__(rule, message)
        self.field = field
        self.rule = rule
        self.message = message


class Registration:
    """Creates accounts: username rules, password policy, throttling, then the insert."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        passwords: PasswordHasher,
        throttle: LoginThrottle,
        policy: PasswordPolicy,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._passwords = passwords
        self._throttle = throttle
        self._policy = policy

    async def register(self, username: str, password: str, *, client: str) -> User:
        """The new user; RegistrationRefusedError, LoginThrottledError or UsernameTakenError.

        `client` is the caller's address: refusals count against the login throttle's
        per-account and per-address limits alike.
        """
        try:
            users.validate_username(username)
        except users.InvalidUsernameError as exc:
            audit("registration_refused", client=client, reason="invalid_username")
            raise RegistrationRefusedError("username", "invalid_username", str(exc)) from None
        key = users.username_key(username)
        throttled = await self._throttle.retry_after(key, client)
        if throttled is not None:
            retry_after, scope = throttled
            audit("registration_refused", client=client, reason=f"throttled_{scope}")
            raise LoginThrottledError(retry_after)
        try:
            self._policy.check(username, password)
        except PasswordRejectedError as exc:
            await self._throttle.record_failure(key, client)
            audit("registration_refused", client=client, reason=exc.rule)
            raise RegistrationRefusedError("password", exc.rule, exc.message) from None
        password_hash = await self._passwords.hash_async(password)
        try:
            async with self._sessionmaker() as db:
                user = await users.create(db, username, password_hash)
                await db.refresh(user)  # created_at is set by the database
        except users.UsernameTakenError:
            await self._throttle.record_failure(key, client)
            audit("registration_refused", client=client, reason="username_taken")
            raise
        audit("user_registered", user_id=str(user.id), client=client)
        return user


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
async def register(request: Request, client: ClientAddress, body: RegisterRequest) -> User:
    """Create an account. A refused username or password is a 422 whose `detail[0].type`
    names the rule (`password_too_short`, `password_contains_username`, `password_too_common`,
    `invalid_username`)."""
    registration: Registration = request.app.state.registration
    try:
        return await registration.register(body.username, body.password, client=client)
    except RegistrationRefusedError as exc:
        # Shaped like FastAPI's own validation errors, so clients parse one format.
        detail = [{"type": exc.rule, "loc": ["body", exc.field], "msg": exc.message}]
        raise HTTPException(422, detail) from None
    except LoginThrottledError as exc:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            "Too many attempts for this username; try again later",
            headers={"Retry-After": str(exc.retry_after)},
        ) from None
    except users.UsernameTakenError:
        raise HTTPException(status.HTTP_409_CONFLICT, "Username is not available") from None
