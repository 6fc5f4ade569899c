"""WS /ws: the handshake is authenticated like any request, and the socket closes when its
session ends."""

import time

import httpx
import pytest
from fastapi import FastAPI

from {{ cookiecutter.package_name }}.auth.websocket import POLICY_VIOLATION, SESSION_ENDED
from {{ cookiecutter.package_name }}.config import Settings

from conftest import access_claims, bearer, make_settings, sign
from websocket_client import HandshakeRefused, connect


@pytest.fixture
def settings(database_url: str) -> Settings:
    """No leeway, so a token expires when its `exp` says; revocations noticed within half a
    second at most (the Redis store's tests poll less often)."""
    poll = min(make_settings(database_url).revocation_poll_seconds, 0.5)
    return make_settings(database_url, jwt_leeway_seconds=0, revocation_poll_seconds=poll)


async def assert_refused(app: FastAPI, headers: dict[str, str], query: bytes = b"") -> None:
    with pytest.raises(HandshakeRefused) as refused:
        async with connect(app, headers=headers, query_string=query):
            pass
    assert refused.value.code == POLICY_VIOLATION


async def test_a_valid_token_is_accepted_and_each_message_echoed(
    app: FastAPI, tokens: dict[str, str], user_id: str
) -> None:
    async with connect(app, headers=bearer(tokens["access_token"])) as socket:
        for text in ("hello", "again"):
            await socket.send_text(text)
            assert await socket.receive_json() == {"user_id": user_id, "echo": text}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        bearer("not-a-token"),
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer"},
    ],
    ids=["missing", "garbage", "other-scheme", "empty-bearer"],
)
async def test_a_handshake_without_a_valid_token_is_refused_before_accept(
    app: FastAPI, headers: dict[str, str]
) -> None:
    await assert_refused(app, headers)


async def test_a_token_in_the_query_string_is_ignored(app: FastAPI, tokens: dict[str, str]) -> None:
    """URLs end up in logs: a token there is not looked at, so the handshake has none."""
    for name in (b"access_token", b"token"):
        await assert_refused(app, {}, query=name + b"=" + tokens["access_token"].encode())


async def test_an_expired_token_is_refused(app: FastAPI, user_id: str) -> None:
    now = int(time.time())
    expired = sign(app, access_claims(user_id, iat=now - 400, auth_time=now - 400, exp=now - 100))
    await assert_refused(app, bearer(expired))


async def test_a_token_without_the_profile_scope_is_refused(app: FastAPI, user_id: str) -> None:
    for scope in ("admin", None):
        await assert_refused(app, bearer(sign(app, access_claims(user_id, scope=scope))))


async def test_a_revoked_session_is_refused(
    app: FastAPI, client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    logout = await client.post("/auth/logout", headers=bearer(tokens["access_token"]))
    assert logout.status_code == 204, logout.text
    await assert_refused(app, bearer(tokens["access_token"]))


async def test_logging_out_closes_the_open_socket_within_the_poll_interval(
    app: FastAPI, client: httpx.AsyncClient, tokens: dict[str, str], settings: Settings
) -> None:
    async with connect(app, headers=bearer(tokens["access_token"])) as socket:
        await socket.send_text("before")
        await socket.receive_json()
        logout = await client.post("/auth/logout", headers=bearer(tokens["access_token"]))
        assert logout.status_code == 204, logout.text
        started = time.monotonic()
        assert await socket.closed() == (POLICY_VIOLATION, SESSION_ENDED)
        # One poll, and a margin for a loaded machine.
        assert time.monotonic() - started < settings.revocation_poll_seconds + 1


async def test_the_open_socket_closes_when_its_token_expires(app: FastAPI, user_id: str) -> None:
    now = int(time.time())
    token = sign(app, access_claims(user_id, iat=now, auth_time=now, exp=now + 2))
    async with connect(app, headers=bearer(token)) as socket:
        await socket.send_text("still valid")
        await socket.receive_json()
        assert await socket.closed() == (POLICY_VIOLATION, SESSION_ENDED)
        assert time.time() >= now + 2


async def test_a_binary_message_closes_the_socket_as_unsupported(
    app: FastAPI, tokens: dict[str, str]
) -> None:
    async with connect(app, headers=bearer(tokens["access_token"])) as socket:
        await socket.send_bytes(b"\x00\x01")
        assert (await socket.closed())[0] == 1003


async def test_a_client_that_vanishes_mid_answer_ends_the_socket_quietly(
    app: FastAPI, tokens: dict[str, str]
) -> None:
    """The app's failed send is the end of the conversation, not an error (leaving `connect`
    re-raises whatever the app raised)."""
    async with connect(app, headers=bearer(tokens["access_token"])) as socket:
        socket.vanish()
        await socket.send_text("anyone there?")


async def test_the_websocket_is_not_in_the_openapi_document(client: httpx.AsyncClient) -> None:
    """OpenAPI describes HTTP only: tools that walk it (Schemathesis) never meet /ws."""
    assert "/ws" not in (await client.get("/openapi.json")).json()["paths"]
