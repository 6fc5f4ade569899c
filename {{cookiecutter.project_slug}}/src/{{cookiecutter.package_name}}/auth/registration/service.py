"""Creating accounts: username rules, password policy, throttling, then the insert."""

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ...audit import audit
from ...security.passwords import PasswordHasher
from ...security.throttle import Limit, LoginThrottle, ThrottledError
from ...users import repository as users
from ...users.models import User
from ...users.password_policy import PasswordPolicy, PasswordRejectedError
from .exceptions import RegistrationRefusedError


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
