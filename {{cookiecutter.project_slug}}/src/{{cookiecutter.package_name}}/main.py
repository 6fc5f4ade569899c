"""The application factory: wires settings, database, keys and routers into one FastAPI app.

`create_app(settings)` builds a fresh app (tests make one per test); `app` is the instance
servers import, as `{{ cookiecutter.package_name }}.main:app`.
"""

import logging
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import cache

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError

from . import __version__
from .admin.router import install_admin_routes
from .auth.accounts import AccountService
from .auth.dependencies import CurrentClaims
from .auth.discovery import install_discovery
from .auth.jwks import install_jwks
{%- if cookiecutter.use_middleware %}
from .auth.middleware import install_auth_middleware
{%- endif %}
{%- if cookiecutter.allow_registration %}
from .auth.registration.router import install_registration
{%- endif %}
from .auth.responses import UNAUTHORIZED
from .auth.revocation import install_revocation
from .auth.router import install_auth_routes
from .auth.service import AuthService
from .auth.services import Services
from .auth.sessions_router import install_sessions_routes
from .auth.stores.{{ cookiecutter.token_store }} import build_backend
from .auth.transport import build_authenticator
from .auth.users_router import install_users_routes
from .auth.websocket_router import install_websocket
from .body_limit import BodySizeLimitMiddleware
from .config import Settings, SettingsError, get_settings
from .db import create_engine, create_sessionmaker
from .db.schema import DatabaseNotReadyError, check_schema
from .docs import install_docs
from .logs import configure_logging
from .security.key_reloader import KeyReloader, key_file_state
from .security.keys import load_keys
from .security.passwords import PasswordHasher
from .security.throttle import LoginThrottle
from .security.tokens import TokenService
from .security_headers import SecurityHeadersMiddleware
from .startup_errors import StartupErrorMiddleware
from .users.cache import UserCache
from .validation_errors import install_validation_errors

logger = logging.getLogger(__name__)


# Adds a part of the API (its routes or middleware) to the app.
Install = Callable[[FastAPI, Services], None]


async def health() -> dict[str, str]:
    """Liveness probe; public."""
    return {"status": "ok"}


async def protected(claims: CurrentClaims) -> dict[str, str]:
    """A protected route answered from the verified token alone, with no database round-trip:
    copy this pattern for routes that only need to know who is calling."""
    return {"user_id": claims.user_id}


def install_root_routes(app: FastAPI, _: Services) -> None:
    # On the app itself, not an included router: each router level is one more match per
    # request, and these are the hottest routes.
    app.add_api_route("/health", health, tags=["meta"])
    app.add_api_route("/protected", protected, tags=["examples"], responses=UNAUTHORIZED)


# Installed in this order: routes match in order, and FastAPI walks an included router's
# routes one by one, so the hot routes come first and the rarely hit /auth ones later.
# Middleware installed later runs earlier.
PARTS: tuple[Install, ...] = (
    install_root_routes,
    install_users_routes,
    install_websocket,
    install_auth_routes,
    install_sessions_routes,
    install_revocation,
    install_admin_routes,
{%- if cookiecutter.allow_registration %}
    install_registration,
{%- endif %}
    install_jwks,
    install_discovery,
{%- if cookiecutter.use_middleware %}
    install_auth_middleware,
{%- endif %}
)


def build_services(settings: Settings) -> Services:
    """Every service of one app. Fails fast (SettingsError) on bad settings or keys."""
    key_path = settings.private_key_path if settings.jwt_algorithm != "HS256" else None
    # Taken before the key files are read: a change made meanwhile is taken up at once.
    key_files_seen = key_file_state(key_path) if key_path else ()
    keys = load_keys(settings)
    engine = create_engine(settings.database_url)
    sessionmaker = create_sessionmaker(engine)
    backend = build_backend(settings, engine)
    tokens = TokenService(
        keys,
        backend.revoked,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        access_ttl=settings.access_token_seconds,
        refresh_ttl=settings.refresh_token_seconds,
        refresh_idle=settings.refresh_idle_seconds,
        leeway=settings.jwt_leeway_seconds,
        verified_cache_bytes=int(settings.verified_token_cache_mb * 2**20),
    )
    passwords = PasswordHasher(
        time_cost=settings.argon2_time_cost,
        memory_kib=settings.argon2_memory_kib,
        parallelism=settings.argon2_parallelism,
    )
    throttle = LoginThrottle(
        backend.attempts,
        max_failures=settings.login_max_failures,
        max_failures_per_address=settings.login_max_failures_per_address,
        window_seconds=settings.login_failure_window_seconds,
    )
    return Services(
        settings=settings,
        engine=engine,
        sessionmaker=sessionmaker,
        backend=backend,
        tokens=tokens,
        key_reloader=KeyReloader(settings, tokens, key_files_seen) if key_path else None,
        passwords=passwords,
        throttle=throttle,
        user_cache=UserCache(ttl=settings.user_cache_seconds),
        authenticator=build_authenticator(settings, tokens),
        auth=AuthService(engine, sessionmaker, passwords, tokens, backend.store, throttle),
        accounts=AccountService(sessionmaker, passwords, backend.store),
    )


async def database_unavailable(_: Request, exc: Exception) -> JSONResponse:
    """The database cannot be reached: "try again", without the driver's message (hosts,
    SQL) that would leak to the client."""
    logger.error("database error: %s", type(exc).__name__)
    return JSONResponse({"detail": "Service temporarily unavailable"}, status_code=503)


async def backend_unavailable(_: Request, exc: Exception) -> JSONResponse:
    """The token store cannot be reached: fail closed, since no login, refresh or logout can
    be recorded; never a 500."""
    logger.error("token store unavailable: %s", type(exc).__name__)
    return JSONResponse(
        {"detail": "Service temporarily unavailable"}, status_code=503, headers={"Retry-After": "1"}
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application. Fails fast (SettingsError) on bad settings or keys."""
    settings = settings or get_settings()
    configure_logging(settings.log_format)
    services = build_services(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Before anything queries it: an unmigrated or unreachable database is one clear
        # line (StartupErrorMiddleware), not a traceback from the first query.
        try:
            await check_schema(services.engine)
        except DatabaseNotReadyError:
            await services.engine.dispose()
            raise
        await services.start()
        try:
            yield
        finally:
            await services.stop()

    app = FastAPI(
        title={{ cookiecutter.project_name | tojson }},
        description={{ cookiecutter.description | tojson }},
        version=__version__,
        lifespan=lifespan,
        # Served from bundled assets by install_docs, not from FastAPI's CDN pages.
        docs_url=None,
        redoc_url=None,
    )
    # The one thing kept on the app: routes reach it through auth/dependencies.py.
    app.state.services = services
    app.add_middleware(StartupErrorMiddleware)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    for install in PARTS:
        install(app, services)
    # Added last, so outermost: the 413s and the middleware's 401s get the headers too.
    app.add_middleware(SecurityHeadersMiddleware, https_only=settings.https_only)
    install_docs(app)
    install_validation_errors(app)
    # Drivers raise some connection failures unwrapped: asyncpg's refused connection is a
    # plain ConnectionRefusedError, a DNS failure a socket.gaierror. Both mean "unavailable".
    for database_error in (OperationalError, DBAPIError, OSError):
        app.add_exception_handler(database_error, database_unavailable)
    for backend_error in services.backend.unavailable:
        app.add_exception_handler(backend_error, backend_unavailable)
    return app


@cache
def _default_app() -> FastAPI:
    """The app from the environment's settings; bad settings end the process with one line.

    Servers import it (`uvicorn {{ cookiecutter.package_name }}.main:app`), and would print a
    traceback for an exception; SystemExit ends them with none.
    """
    try:
        return create_app()
    except SettingsError as exc:
        # Logging is not configured yet: these settings were to say how.
        print(f"Error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None


def __getattr__(name: str) -> FastAPI:
    """`main.app`, built on first access from the environment's settings.

    Importing this module (tests, tools) then needs no production settings; `uvicorn
    {{ cookiecutter.package_name }}.main:app` and `from ... import app` work as usual.
    """
    if name == "app":
        return _default_app()
    raise AttributeError(name)
