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
from ..security.throttle import Limit, LoginThrottle, ThrottledError
from ..users import repository as users
from ..users.models import MAX_USERNAME_LENGTH, User
from ..users.schemas import UserPublic
from .client_address import ClientAddress
from .router import UNAVAILABLE, UNREADABLE_BODY
from .schemas import ErrorResponse

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
        *,
        per_address: int,
        window_seconds: int,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._passwords = passwords
        self._throttle = throttle
        self._policy = policy
        self._per_address = per_address
        self._window_seconds = window_seconds

    def _limits(self, username_key: str, client: str | None) -> list[Limit]:
        """Every attempt counts per client address (per username without an address), and
        against the username's login limit, so probing names here costs as much as there."""
        registrations = Limit(
            "registration",
            client if client is not None else f"username:{username_key}",
            self._per_address,
            self._window_seconds,
        )
        return [registrations, self._throttle.account_limit(username_key)]

    async def register(self, username: str, password: str, *, client: str | None) -> User:
        """The new user; RegistrationRefusedError, ThrottledError or UsernameTakenError.

        `client` is the caller's address. The attempt takes its slots before any work and
        keeps them; only a success gives the username's login slot back.
        """
        try:
            users.validate_username(username)
        except users.InvalidUsernameError as exc:
            audit("registration_refused", client=client, reason="invalid_username")
            raise RegistrationRefusedError("username", "invalid_username", str(exc)) from None
        key = users.username_key(username)
        try:
            reservation = await self._throttle.reserve(self._limits(key, client))
        except ThrottledError as exc:
            audit("registration_refused", client=client, reason=f"throttled_{exc.scope}")
            raise
        try:
            self._policy.check(username, password)
        except PasswordRejectedError as exc:
            audit("registration_refused", client=client, reason=exc.rule)
            raise RegistrationRefusedError("password", exc.rule, exc.message) from None
        password_hash = await self._passwords.hash_async(password)
        try:
            async with self._sessionmaker() as db:
                user = await users.create(db, username, password_hash)
                await db.refresh(user)  # created_at is set by the database
        except users.UsernameTakenError:
            audit("registration_refused", client=client, reason="username_taken")
            raise
        await self._throttle.give_back(reservation, scopes=("account",))
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
    except ThrottledError as exc:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            "Too many attempts; try again later",
            headers={"Retry-After": str(exc.retry_after)},
        ) from None
    except users.UsernameTakenError:
        raise HTTPException(status.HTTP_409_CONFLICT, "Username is not available") from None
