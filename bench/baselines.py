"""Comparison apps: the usual ways of protecting a FastAPI route, on the template's own stack.

Each public function is an app factory for `uvicorn --factory baselines:<name>` (run.py starts
them with `--app-dir bench`), so each baseline runs in a server of its own, configured exactly
like the template's. They read their settings from the environment:

- BENCH_SECRET: the HS256 key the bench signs their tokens with;
- BENCH_DB, BENCH_USER_ID: for `load_user_sqlite`, the SQLite file and the id of its one user.

The apps are deliberately the plain tutorial patterns, not tuned: they are what the template
is measured against.
"""

import os
import uuid
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Annotated, Any

import jwt
from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2PasswordBearer
from pydantic import BaseModel, ConfigDict
from sqlalchemy import String, create_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from starlette.middleware.base import BaseHTTPMiddleware

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CREDENTIALS_ERROR = HTTPException(
    status.HTTP_401_UNAUTHORIZED, "Could not validate credentials", {"WWW-Authenticate": "Bearer"}
)


def _secret() -> str:
    return os.environ["BENCH_SECRET"]


def _decode(token: str) -> dict[str, Any]:
    """The tutorials' check: signature and expiry, HS256 pinned."""
    try:
        return jwt.decode(token, _secret(), algorithms=["HS256"])
    except jwt.PyJWTError:
        raise CREDENTIALS_ERROR from None


def bare() -> FastAPI:
    """The reference: a bare GET returning a small JSON, no auth at all."""
    app = FastAPI()

    @app.get("/protected")
    async def protected() -> dict[str, str]:
        return {"user_id": "anonymous"}

    return app


def header_only() -> FastAPI:
    """A dependency that only reads the header: the cost of FastAPI's dependency injection."""
    app = FastAPI()

    async def read_header(request: Request) -> str:
        return request.headers.get("authorization", "")

    @app.get("/protected")
    async def protected(header: Annotated[str, Depends(read_header)]) -> dict[str, str]:
        return {"user_id": header[:8]}

    return app


def oauth2_async() -> FastAPI:
    """The FastAPI tutorial: OAuth2PasswordBearer + jwt.decode in an async dependency."""
    app = FastAPI()
    oauth2_scheme = OAuth2PasswordBearer(tokenUrl="token")

    async def current_user_id(token: Annotated[str, Depends(oauth2_scheme)]) -> str:
        return str(_decode(token)["sub"])

    @app.get("/protected")
    async def protected(user_id: Annotated[str, Depends(current_user_id)]) -> dict[str, str]:
        return {"user_id": user_id}

    return app


def oauth2_sync() -> FastAPI:
    """The same with a plain `def` dependency, which FastAPI runs in its threadpool."""
    app = FastAPI()
    oauth2_scheme = OAuth2PasswordBearer(tokenUrl="token")

    def current_user_id(token: Annotated[str, Depends(oauth2_scheme)]) -> str:
        return str(_decode(token)["sub"])

    @app.get("/protected")
    async def protected(user_id: Annotated[str, Depends(current_user_id)]) -> dict[str, str]:
        return {"user_id": user_id}

    return app


def base_http_middleware() -> FastAPI:
    """Starlette's BaseHTTPMiddleware checking the JWT, as many tutorials write it."""
    app = FastAPI()

    async def check_jwt(request: Request, call_next: Any) -> Any:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return JSONResponse({"detail": "Not authenticated"}, status_code=401)
        try:
            request.state.user_id = str(_decode(token)["sub"])
        except HTTPException:
            return JSONResponse({"detail": "Invalid token"}, status_code=401)
        return await call_next(request)

    app.add_middleware(BaseHTTPMiddleware, dispatch=check_jwt)

    @app.get("/protected")
    async def protected(request: Request) -> dict[str, str]:
        return {"user_id": request.state.user_id}

    return app


class _JwtAsgiMiddleware:
    """A pure ASGI middleware checking the JWT: no request object, no extra task."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
        scheme, _, token = header.partition(" ")
        try:
            if scheme.lower() != "bearer":
                raise CREDENTIALS_ERROR
            scope.setdefault("state", {})["user_id"] = str(_decode(token)["sub"])
        except HTTPException:
            response = JSONResponse({"detail": "Not authenticated"}, status_code=401)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def asgi_middleware() -> FastAPI:
    app = FastAPI()
    app.add_middleware(_JwtAsgiMiddleware)

    @app.get("/protected")
    async def protected(request: Request) -> dict[str, str]:
        return {"user_id": request.state.user_id}

    return app


class _Base(DeclarativeBase):
    pass


class _User(_Base):
    __tablename__ = "bench_users"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(255), unique=True)
    hashed_password: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(default=True)


class _UserPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    is_active: bool


def load_user_sqlite() -> FastAPI:
    """full-stack-fastapi-template's pattern: every request decodes the token, then loads the
    user row from the database (sync SQLAlchemy session and sync dependencies, as there)."""
    engine = create_engine(f"sqlite:///{os.environ['BENCH_DB']}")
    _Base.metadata.create_all(engine)
    user_id = uuid.UUID(os.environ["BENCH_USER_ID"])
    with Session(engine) as session, session.begin():
        if session.get(_User, user_id) is None:
            session.add(_User(id=user_id, email="bench@example.com", hashed_password="x"))

    app = FastAPI()
    reusable_oauth2 = OAuth2PasswordBearer(tokenUrl="/login/access-token")

    def get_db() -> Iterator[Session]:
        with Session(engine) as session:
            yield session

    def get_current_user(
        session: Annotated[Session, Depends(get_db)],
        token: Annotated[str, Depends(reusable_oauth2)],
    ) -> _User:
        payload = _decode(token)
        user = session.get(_User, uuid.UUID(payload["sub"]))
        if user is None or not user.is_active:
            raise CREDENTIALS_ERROR
        return user

    @app.get("/users/me", response_model=_UserPublic)
    def read_user_me(current_user: Annotated[_User, Depends(get_current_user)]) -> Any:
        return current_user

    return app
