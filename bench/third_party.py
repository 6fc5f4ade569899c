"""Comparison apps built on third-party auth libraries: fastapi-users and authx.

They pin versions of SQLAlchemy and pwdlib that differ from the template's, so run.py runs
them from a virtualenv of their own (same FastAPI, Starlette and uvicorn versions) rather than
installing them next to the template's dependencies. Each factory writes a valid access token
to BENCH_TOKEN_FILE once it is ready, made by the library itself; BENCH_SECRET is the key and
BENCH_DB the SQLite file fastapi-users keeps its users in.
"""

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI


def fastapi_users_app() -> FastAPI:
    """fastapi-users' documented setup: JWT bearer backend, SQLAlchemy users, /users/me."""
    from fastapi_users import BaseUserManager, FastAPIUsers, UUIDIDMixin, schemas
    from fastapi_users.authentication import AuthenticationBackend, BearerTransport, JWTStrategy
    from fastapi_users_db_sqlalchemy import SQLAlchemyBaseUserTableUUID, SQLAlchemyUserDatabase
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
    from sqlalchemy.orm import DeclarativeBase

    secret = os.environ["BENCH_SECRET"]

    class Base(DeclarativeBase):
        pass

    class User(SQLAlchemyBaseUserTableUUID, Base):
        pass

    class UserRead(schemas.BaseUser[uuid.UUID]):
        pass

    class UserUpdate(schemas.BaseUserUpdate):
        pass

    engine = create_async_engine(f"sqlite+aiosqlite:///{os.environ['BENCH_DB']}")
    sessionmaker = async_sessionmaker(engine, expire_on_commit=False)

    async def get_session() -> AsyncIterator[AsyncSession]:
        async with sessionmaker() as session:
            yield session

    async def get_user_db(
        session: Annotated[AsyncSession, Depends(get_session)],
    ) -> AsyncIterator[SQLAlchemyUserDatabase[User, uuid.UUID]]:
        yield SQLAlchemyUserDatabase(session, User)

    class UserManager(UUIDIDMixin, BaseUserManager[User, uuid.UUID]):
        reset_password_token_secret = secret
        verification_token_secret = secret

    async def get_user_manager(
        user_db: Annotated[SQLAlchemyUserDatabase[User, uuid.UUID], Depends(get_user_db)],
    ) -> AsyncIterator[UserManager]:
        yield UserManager(user_db)

    def get_strategy() -> JWTStrategy[User, uuid.UUID]:
        return JWTStrategy(secret=secret, lifetime_seconds=3600)

    backend = AuthenticationBackend(
        name="jwt", transport=BearerTransport(tokenUrl="auth/jwt/login"), get_strategy=get_strategy
    )
    users = FastAPIUsers[User, uuid.UUID](get_user_manager, [backend])

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)
        async with sessionmaker() as session, session.begin():
            user = User(email=f"{uuid.uuid4().hex}@example.com", hashed_password="x")
            session.add(user)
        Path(os.environ["BENCH_TOKEN_FILE"]).write_text(await get_strategy().write_token(user))
        yield
        await engine.dispose()

    app = FastAPI(lifespan=lifespan)
    app.include_router(users.get_users_router(UserRead, UserUpdate), prefix="/users")
    return app


def authx_app() -> FastAPI:
    """authx's documented setup: a route guarded by `access_token_required`."""
    from authx import AuthX, AuthXConfig

    auth = AuthX(
        config=AuthXConfig(
            JWT_SECRET_KEY=os.environ["BENCH_SECRET"],
            JWT_ALGORITHM="HS256",
            JWT_TOKEN_LOCATION=["headers"],
        )
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        Path(os.environ["BENCH_TOKEN_FILE"]).write_text(auth.create_access_token(uid="bench"))
        yield

    app = FastAPI(lifespan=lifespan)
    auth.handle_errors(app)

    @app.get("/protected", dependencies=[Depends(auth.access_token_required)])
    async def protected() -> dict[str, str]:
        return {"user_id": "bench"}

    return app
