"""The services of one app, built once by `main.create_app` and handed to routes as typed
dependencies (auth/dependencies.py), so a test can swap any of them through
`app.dependency_overrides`."""

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from ..config import Settings
from ..security.keys import KeySet
from ..security.passwords import PasswordHasher
from ..security.throttle import LoginThrottle
from ..security.tokens import TokenService
from ..users.cache import UserCache
from .accounts import AccountService
from .authenticator import Authenticator
from .service import AuthService
from .stores.interface import StoreBackend


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    # Sessions, revocations and throttling slots, in the database or Redis.
    backend: StoreBackend
    keys: KeySet
    tokens: TokenService
    passwords: PasswordHasher
    throttle: LoginThrottle
    user_cache: UserCache
    authenticator: Authenticator
    auth: AuthService
    accounts: AccountService

    async def start(self) -> None:
        """Load the revocations that still matter and start following new ones."""
        await self.backend.store.open()

    async def stop(self) -> None:
        """Stop background work and release every connection."""
        await self.backend.store.close()
        await self.throttle.close()
        await self.engine.dispose()
