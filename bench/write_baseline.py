"""The physical limit of a rotation or a logout: the same number of writes in one transaction
of the same database, with nothing else around them.

An app factory for `uvicorn --factory write_baseline:app` (run.py starts it with `--app-dir
bench`, from a bake's directory with the bake's `src` importable): it opens the bake's
database with the bake's own engine (`<package>.db.create_engine`: same driver, pool and
SQLite pragmas) and its Redis with a plain client, and answers

- GET /sql?writes=N: N single-row UPDATEs of a table of its own, in one transaction;
- GET /redis?commands=N: N HSETs in one MULTI/EXEC.

BENCH_PACKAGE names the bake's package; the database URL and Redis URL are the bake's own
settings (its environment), keys go under its REDIS_KEY_PREFIX + "bench:". The benchmark's
own: never in a bake.
"""

import importlib
import itertools
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy import text

ROWS = 1024


def app() -> FastAPI:
    package = os.environ["BENCH_PACKAGE"]
    db = importlib.import_module(f"{package}.db")
    settings = importlib.import_module(f"{package}.config").get_settings()
    engine = db.create_engine(settings.database_url)
    # Bakes with the database store have no Redis settings: their app never uses /redis.
    redis = Redis.from_url(getattr(settings, "redis_url", "redis://127.0.0.1:6379/0"))
    prefix = f"{getattr(settings, 'redis_key_prefix', 'jwt-bench:')}bench:"
    rows = itertools.count()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with engine.begin() as conn:
            await conn.execute(
                text("CREATE TABLE IF NOT EXISTS bench_writes (id INTEGER PRIMARY KEY, v TEXT)")
            )
            if not await conn.scalar(text("SELECT count(*) FROM bench_writes")):
                await conn.execute(
                    text("INSERT INTO bench_writes (id, v) VALUES (:id, '')"),
                    [{"id": n} for n in range(ROWS)],
                )
        yield
        await redis.aclose()
        await engine.dispose()

    application = FastAPI(lifespan=lifespan)
    update = text("UPDATE bench_writes SET v = :v WHERE id = :id")

    @application.get("/sql")
    async def sql(writes: int = 1) -> dict[str, int]:
        async with engine.begin() as conn:
            for _ in range(writes):
                await conn.execute(update, {"v": uuid.uuid4().hex, "id": next(rows) % ROWS})
        return {"writes": writes}

    @application.get("/redis")
    async def redis_commands(commands: int = 1) -> dict[str, int]:
        async with redis.pipeline(transaction=True) as pipe:
            for _ in range(commands):
                pipe.hset(f"{prefix}row:{next(rows) % ROWS}", "v", uuid.uuid4().hex)
            await pipe.execute()
        return {"commands": commands}

    return application
