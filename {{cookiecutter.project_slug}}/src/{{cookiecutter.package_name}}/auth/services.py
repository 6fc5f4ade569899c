"""The services of one app, built once by `main.create_app` and handed to routes as typed
dependencies (auth/dependencies.py), so a test can swap any of them through
`app.dependency_overrides`."""

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from ..config import Settings
from ..security.key_reloader import KeyReloader
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
    # Holds the key set in use (`keys` below reads it from there).
    tokens: TokenService
    # Takes up key rotations without a restart; None under HS256, which has no key files.
    key_reloader: KeyReloader | None
    passwords: PasswordHasher
    throttle: LoginThrottle
    user_cache: UserCache
    authenticator: Authenticator
    auth: AuthService
    accounts: AccountService

    @property
    def keys(self) -> KeySet:
        """The key set in use, as the token service holds it: the one source of truth."""
        return self.tokens.keys

    async def start(self) -> None:
        """Load the revocations that still matter and start following new ones and the key
        files."""
        await self.backend.store.open()
        if self.key_reloader is not None:
            self.key_reloader.start()

    async def stop(self) -> None:
        """Stop background work and release every connection."""
        if self.key_reloader is not None:
            await self.key_reloader.stop()
        await self.backend.store.close()
        await self.throttle.close()
        await self.engine.dispose()
