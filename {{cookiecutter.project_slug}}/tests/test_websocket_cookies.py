"""WS /ws in cookie mode: the access cookie authenticates a handshake only from the service's own
pages or an allowed origin, since any page can open a WebSocket with the user's cookies
(Cross-Site WebSocket Hijacking)."""

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from {{ cookiecutter.package_name }}.config import Settings

from conftest import bearer, login, make_settings
from websocket_client import HandshakeRefused, connect

ACCESS = "__Host-access_token"
# The handshakes below go to wss://test.
OWN_ORIGIN = "https://test"
FRONT_END = "https://app.example.com"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, cookie_allowed_origins=FRONT_END)


@pytest.fixture
async def access_cookie(app: FastAPI, user_id: str) -> AsyncIterator[str]:
    """The Cookie header of a browser logged in through the service's own pages."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url=OWN_ORIGIN, headers={"Sec-Fetch-Site": "same-origin"}
    ) as browser:
        assert (await login(browser)).status_code == 200
        yield f"{ACCESS}={browser.cookies[ACCESS]}"


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param([("Origin", OWN_ORIGIN)], id="the service's own origin"),
        pytest.param([("Origin", FRONT_END)], id="an allowed origin"),
        pytest.param(
            [("Sec-Fetch-Site", "same-origin"), ("Origin", OWN_ORIGIN)], id="fetch metadata"
        ),
    ],
)
async def test_the_cookie_authenticates_a_handshake_from_own_pages(
    app: FastAPI, access_cookie: str, user_id: str, headers: list[tuple[str, str]]
) -> None:
    async with connect(app, headers=[("Cookie", access_cookie), *headers], scheme="wss") as ws:
        await ws.send_text("hi")
        assert await ws.receive_json() == {"user_id": user_id, "echo": "hi"}


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param([("Origin", "https://evil.example.com")], id="another site"),
        pytest.param(
            [("Sec-Fetch-Site", "same-site"), ("Origin", "https://sub.test")],
            id="a sibling subdomain",
        ),
        pytest.param([("Origin", "null")], id="an opaque origin"),
        pytest.param([("Origin", "http://test")], id="the own host over plain http"),
        pytest.param(
            [("Origin", OWN_ORIGIN), ("Origin", "https://evil.example.com")], id="two origins"
        ),
        pytest.param([("Sec-Fetch-Site", "none")], id="no origin"),
    ],
)
async def test_the_cookie_is_refused_from_other_origins(
    app: FastAPI, access_cookie: str, headers: list[tuple[str, str]]
) -> None:
    with pytest.raises(HandshakeRefused) as refused:
        async with connect(app, headers=[("Cookie", access_cookie), *headers], scheme="wss"):
            pass
    assert refused.value.code == 1008


async def test_the_authorization_header_works_from_any_origin(
    app: FastAPI, client: httpx.AsyncClient, user_id: str
) -> None:
    """A browser never attaches the header itself: a page that has it holds the token."""
    token = (await login(client)).json()["access_token"]
    headers = {"Origin": "https://evil.example.com", **bearer(token)}
    async with connect(app, headers=headers, scheme="wss") as ws:
        await ws.send_text("hi")
        assert await ws.receive_json() == {"user_id": user_id, "echo": "hi"}
