"""Start sessions of a user with a bake's own services, and write their tokens, one per line.

Usage (from the bake's directory, its `src` on PYTHONPATH, the servers' environment):
    python mint_sessions.py PACKAGE USERNAME COUNT REFRESH_OUT ACCESS_OUT

Not part of the `bench` package: it runs inside the bake, like its servers. Each session is
recorded by the bake's token store (`start_session`, what a login does after the password
check) and its tokens signed by its TokenService, so they are exactly what a login would hand
out, without COUNT argon2 hashes and throttle slots. REFRESH_OUT gets each session's refresh
token, ACCESS_OUT its access token: a refresh or a logout can spend each exactly once.
"""

import asyncio
import importlib
import sys
import time
import uuid

# Sessions started at once on PostgreSQL and Redis; SQLite takes one writer at a time anyway.
CONCURRENCY = 16


async def mint(package: str, username: str, count: int, refresh_out: str, access_out: str) -> None:
    config = importlib.import_module(f"{package}.config")
    main = importlib.import_module(f"{package}.main")
    users = importlib.import_module(f"{package}.users.repository")
    roles = importlib.import_module(f"{package}.users.roles")
    claims = importlib.import_module(f"{package}.auth.claims")
    interface = importlib.import_module(f"{package}.auth.stores.interface")
    settings = config.get_settings()
    services = main.build_services(settings)
    async with services.sessionmaker() as db:
        user = await users.get_by_username(db, username)
    if user is None:
        raise SystemExit(f"no user {username!r}")
    scopes, extra = roles.scopes_of(user.role), claims.custom_claims(user)
    store, tokens = services.backend.store, services.tokens
    limit = asyncio.Semaphore(1 if settings.database_url.startswith("sqlite") else CONCURRENCY)
    auth_time = int(time.time())

    async def one() -> tuple[str, str]:
        issued = tokens.issue(str(user.id), uuid.uuid4().hex, auth_time, scopes, extra)
        session = interface.NewSession(
            user_id=str(user.id),
            session_id=issued.session_id,
            refresh_token_id=issued.refresh_token_id,
            expires_at=tokens.session_end(auth_time),
            credentials_version=user.credentials_version,
            client="127.0.0.1",
            user_agent="bench/mint_sessions",
        )
        async with limit:
            if not await store.start_session(session):
                raise SystemExit("the store refused a session (credentials changed?)")
        return issued.refresh_token, issued.access_token

    pairs = await asyncio.gather(*(one() for _ in range(count)))
    with (
        open(refresh_out, "w", encoding="ascii") as refresh,
        open(access_out, "w", encoding="ascii") as access,
    ):
        for refresh_token, access_token in pairs:
            refresh.write(refresh_token + "\n")
            access.write(access_token + "\n")
    await store.close()
    await services.engine.dispose()


def main() -> int:
    package, username, count, refresh_out, access_out = sys.argv[1:6]
    asyncio.run(mint(package, username, int(count), refresh_out, access_out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
