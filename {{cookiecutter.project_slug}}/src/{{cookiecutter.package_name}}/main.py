"""The application factory: wires settings, database, keys and routers into one FastAPI app.

`create_app(settings)` builds a fresh app (tests make one per test); `app` is the instance
servers import, as `{{ cookiecutter.package_name }}.main:app`.
"""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
{%- if cookiecutter.token_store == "redis" %}
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
{%- endif %}
from sqlalchemy.exc import DBAPIError, OperationalError

from . import __version__
from .auth.accounts import AccountService
{%- if cookiecutter.cookie_auth %}
from .auth.cookies import CookieAuthenticator
{%- else %}
from .auth.authenticator import Authenticator
{%- endif %}
from .auth.dependencies import CurrentClaims
from .auth.jwks import router as jwks_router
{%- if cookiecutter.use_middleware %}
from .auth.middleware import AuthMiddleware
{%- endif %}
{%- if cookiecutter.allow_registration %}
from .auth.registration import Registration
from .auth.registration import router as registration_router
{%- endif %}
from .auth.router import UNAUTHORIZED
from .auth.router import router as auth_router
from .auth.service import AuthService
from .body_limit import BodySizeLimitMiddleware
from .config import Settings, get_settings
from .db import create_engine, create_sessionmaker
from .docs import install_docs
from .logs import configure_logging
{%- if cookiecutter.token_store == "database" %}
from .security.database_store import DatabaseTokenStore
from .security.database_throttle import DatabaseAttemptLog
{%- endif %}
from .security.keys import load_keys
{%- if cookiecutter.allow_registration %}
from .security.password_policy import PasswordPolicy
{%- endif %}
from .security.passwords import PasswordHasher
{%- if cookiecutter.token_store == "redis" %}
from .security.redis_store import RedisTokenStore, SyncedRevokedSessions, redis_client
from .security.redis_throttle import RedisAttemptLog
{%- else %}
from .security.revocation import RevokedSessions
{%- endif %}
from .security.throttle import LoginThrottle
from .security.tokens import TokenService
from .security_headers import SecurityHeadersMiddleware
from .users.cache import UserCache
from .users.router import router as users_router
from .validation_errors import install_validation_errors

logger = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application. Fails fast (SettingsError) on bad settings or keys."""
    settings = settings or get_settings()
    configure_logging(settings.log_format)
    keys = load_keys(settings)
    engine = create_engine(settings.database_url)
    sessionmaker = create_sessionmaker(engine)
{%- if cookiecutter.token_store == "redis" %}
    # Fail closed: a worker that cannot prove it has seen every revocation answers 503.
    revoked = SyncedRevokedSessions(stale_after=2 * settings.revocation_poll_seconds)
    store = RedisTokenStore(
        settings.redis_url,
        revoked,
        key_prefix=settings.redis_key_prefix,
        access_ttl=settings.access_token_seconds,
        poll_seconds=settings.revocation_poll_seconds,
    )
    attempts = RedisAttemptLog(
        redis_client(settings.redis_url), key_prefix=settings.redis_key_prefix
    )
{%- else %}
    revoked = RevokedSessions()
    store = DatabaseTokenStore(
        sessionmaker,
        revoked,
        access_ttl=settings.access_token_seconds,
        poll_seconds=settings.revocation_poll_seconds,
    )
    attempts = DatabaseAttemptLog(sessionmaker)
{%- endif %}
    tokens = TokenService(
        keys,
        revoked,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        access_ttl=settings.access_token_seconds,
        refresh_ttl=settings.refresh_token_seconds,
        refresh_idle=settings.refresh_idle_seconds,
        leeway=settings.jwt_leeway_seconds,
    )
    passwords = PasswordHasher(
        time_cost=settings.argon2_time_cost,
        memory_kib=settings.argon2_memory_kib,
        parallelism=settings.argon2_parallelism,
    )
    throttle = LoginThrottle(
        attempts,
        max_failures=settings.login_max_failures,
        max_failures_per_address=settings.login_max_failures_per_address,
        window_seconds=settings.login_failure_window_seconds,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await store.open()
        try:
            yield
        finally:
            await store.close()
            await throttle.close()
            await engine.dispose()

    app = FastAPI(
        title={{ cookiecutter.project_name | tojson }},
        description={{ cookiecutter.description | tojson }},
        version=__version__,
        lifespan=lifespan,
        # Served from bundled assets by install_docs, not from FastAPI's CDN pages.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.sessionmaker = sessionmaker
    app.state.tokens = tokens
    app.state.keys = keys
    app.state.passwords = passwords
    app.state.user_cache = UserCache(ttl=settings.user_cache_seconds)
    app.state.auth = AuthService(sessionmaker, passwords, tokens, store, throttle)
    app.state.accounts = AccountService(sessionmaker, passwords, store)
{%- if cookiecutter.cookie_auth %}
    assert settings.secret_key is not None  # guaranteed by Settings validation
    authenticator = CookieAuthenticator(
        tokens,
        settings.secret_key.get_secret_value().encode(),
        refresh_max_age=settings.refresh_idle_seconds,
    )
{%- else %}
    authenticator = Authenticator(tokens)
{%- endif %}
    app.state.authenticator = authenticator
{%- if cookiecutter.allow_registration %}
    app.state.registration = Registration(
        sessionmaker,
        passwords,
        throttle,
        PasswordPolicy(min_length=settings.password_min_length),
        per_address=settings.registration_max_per_address,
        window_seconds=settings.registration_window_seconds,
    )
{%- endif %}

    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
{%- if cookiecutter.use_middleware %}
    app.add_middleware(
        AuthMiddleware, authenticator=authenticator, public_paths=settings.public_paths
    )
{%- endif %}

    # Added last, so outermost: the 413s and 401s of the middlewares above get the headers too.
    app.add_middleware(SecurityHeadersMiddleware, https_only=settings.https_only)

    @app.get("/health", tags=["meta"])
    async def health() -> dict[str, str]:
        """Liveness probe; public."""
        return {"status": "ok"}

    @app.get("/protected", tags=["examples"], responses=UNAUTHORIZED)
    async def protected(claims: CurrentClaims) -> dict[str, str]:
        """A protected route answered from the verified token alone, with no database
        round-trip: copy this pattern for routes that only need to know who is calling."""
        return {"user_id": claims.user_id}

    # Routes match in order, and FastAPI walks an included router's routes one by one: the
    # hot routes come first, the rarely hit /auth ones and the docs pages last.
    app.include_router(users_router)
    app.include_router(auth_router)
{%- if cookiecutter.allow_registration %}
    app.include_router(registration_router)
{%- endif %}
    app.include_router(jwks_router)
    install_docs(app)
    install_validation_errors(app)

    @app.exception_handler(OperationalError)
    @app.exception_handler(DBAPIError)
    # Drivers raise some connection failures unwrapped: asyncpg's refused connection is a
    # plain ConnectionRefusedError, a DNS failure a socket.gaierror. Both mean "unavailable".
    @app.exception_handler(OSError)
    async def database_unavailable(_: Request, exc: Exception) -> JSONResponse:
        # Say "try again" without leaking the driver's message (hosts, SQL) to the client.
        logger.error("database error: %s", type(exc).__name__)
        return JSONResponse({"detail": "Service temporarily unavailable"}, status_code=503)
{%- if cookiecutter.token_store == "redis" %}

    @app.exception_handler(RedisConnectionError)
    @app.exception_handler(RedisTimeoutError)
    async def token_store_unavailable(_: Request, exc: Exception) -> JSONResponse:
        # Fail closed: without Redis no login, refresh or logout can be recorded, and "try
        # again shortly" is the honest answer, never a 500 (stale revocations: redis_store.py).
        logger.error("token store unavailable: %s", type(exc).__name__)
        return JSONResponse(
            {"detail": "Service temporarily unavailable"},
            status_code=503,
            headers={"Retry-After": "1"},
        )
{%- endif %}

    return app


@cache
def _default_app() -> FastAPI:
    return create_app()


def __getattr__(name: str) -> FastAPI:
    """`main.app`, built on first access from the environment's settings.

    Importing this module (tests, tools) then needs no production settings; `uvicorn
    {{ cookiecutter.package_name }}.main:app` and `from ... import app` work as usual.
    """
    if name == "app":
        return _default_app()
    raise AttributeError(name)
