"""PostgreSQL out of reach: requests that need it answer 503 with a short body, never a 500.

asyncpg reports a refused connection as a plain ConnectionRefusedError rather than a
SQLAlchemy error, so this pins down that the app still maps it to 503, and that the answer
names no host, port, driver or traceback.
"""

import socket
from collections.abc import Iterator

import httpx
import pytest

from {{ cookiecutter.package_name }}.main import create_app

from conftest import bearer, client_for, login, make_settings

LEAK_MARKERS = ("Traceback", "asyncpg", "postgres", "Connect", "127.0.0.1", "Errno")


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port that refuses connections: bound, so nothing else takes it, but not
    listening."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        yield holder.getsockname()[1]


def assert_unavailable(response: httpx.Response, port: int) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json()["detail"]
    leaked = [marker for marker in (*LEAK_MARKERS, str(port)) if marker in response.text]
    assert leaked == []


async def test_requests_that_need_the_database_get_503(
    tokens: dict[str, str], closed_port: int
) -> None:
    # The tokens come from the working app; this one shares its keys but not its database.
    # Its lifespan is not run: starting up against an unreachable database fails, as it should.
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port}/unreachable"
    unreachable = create_app(make_settings(url))
    async with client_for(unreachable) as client:
        assert_unavailable(await login(client), closed_port)
        body = {"refresh_token": tokens["refresh_token"]}
        assert_unavailable(await client.post("/auth/refresh", json=body), closed_port)
        headers = bearer(tokens["access_token"])
        assert_unavailable(await client.get("/users/me", headers=headers), closed_port)
