"""GET /auth/sessions and DELETE /auth/sessions/{id}: a user's own sessions, seen and ended."""

import asyncio
import time
import uuid
from datetime import datetime

import httpx
from fastapi import FastAPI

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.main import create_app

from conftest import (
    access_claims,
    add_user,
    bearer,
    client_for,
    login,
    old_login_token,
    refresh,
    session_id,
    sign,
)

PHONE = {"User-Agent": "Phone/1.0"}
LAPTOP = {"User-Agent": "Laptop/2.0"}


async def login_with(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, str]:
    """A login that sends `headers`, as a device would."""
    client.headers.update(headers)
    try:
        response = await login(client)
    finally:
        for name in headers:
            del client.headers[name]
    assert response.status_code == 200, response.text
    tokens: dict[str, str] = response.json()
    return tokens


async def sessions(client: httpx.AsyncClient, tokens: dict[str, str]) -> list[dict[str, object]]:
    response = await client.get("/auth/sessions", headers=bearer(tokens["access_token"]))
    assert response.status_code == 200, response.text
    listed: list[dict[str, object]] = response.json()
    return listed


async def end(client: httpx.AsyncClient, tokens: dict[str, str], sid: str) -> httpx.Response:
    return await client.delete(f"/auth/sessions/{sid}", headers=bearer(tokens["access_token"]))


async def test_the_list_shows_every_live_session_and_marks_the_calling_one(
    client: httpx.AsyncClient, user_id: str
) -> None:
    phone = await login_with(client, PHONE)
    laptop = await login_with(client, LAPTOP)
    listed = await sessions(client, phone)
    assert {entry["id"] for entry in listed} == {session_id(phone), session_id(laptop)}
    by_id = {entry["id"]: entry for entry in listed}
    assert by_id[session_id(phone)]["current"] is True
    assert by_id[session_id(laptop)]["current"] is False
    assert by_id[session_id(phone)]["user_agent"] == "Phone/1.0"
    assert by_id[session_id(laptop)]["user_agent"] == "Laptop/2.0"
    for entry in listed:
        assert set(entry) == {"id", "created_at", "last_used_at", "client", "user_agent", "current"}
        # httpx's ASGI transport calls from 127.0.0.1.
        assert entry["client"] == "127.0.0.1"
        created = datetime.fromisoformat(str(entry["created_at"]))
        assert created.utcoffset() is not None, "RFC 3339 times carry an offset"
        assert abs(created.timestamp() - time.time()) < 60
        # The login's own time; PostgreSQL's clock moves even within one statement.
        last_used = datetime.fromisoformat(str(entry["last_used_at"]))
        assert 0 <= (last_used - created).total_seconds() < 1


async def test_a_refresh_records_when_and_from_what_the_session_was_used(
    client: httpx.AsyncClient, user_id: str
) -> None:
    phone = await login_with(client, PHONE)
    (before,) = await sessions(client, phone)
    client.headers.update(LAPTOP)
    renewed = (await refresh(client, phone)).json()
    (after,) = await sessions(client, renewed)
    assert after["id"] == before["id"]
    assert after["created_at"] == before["created_at"]
    # The store's clock may not have ticked between the two calls; it never goes back.
    last_used = datetime.fromisoformat(str(after["last_used_at"]))
    assert last_used >= datetime.fromisoformat(str(before["last_used_at"]))
    assert after["user_agent"] == "Laptop/2.0"
    assert after["current"] is True


async def test_a_long_user_agent_is_cut_and_a_missing_one_is_null(
    client: httpx.AsyncClient, user_id: str
) -> None:
    long = await login_with(client, {"User-Agent": "A" * 5000})
    client.headers.pop("User-Agent", None)  # httpx's own, if login_with left it
    anonymous = await login_with(client, {})
    by_id = {entry["id"]: entry for entry in await sessions(client, long)}
    assert by_id[session_id(long)]["user_agent"] == "A" * 256
    assert by_id[session_id(anonymous)]["user_agent"] is None


async def test_ending_another_session_stops_its_tokens_and_not_the_callers(
    client: httpx.AsyncClient, user_id: str
) -> None:
    phone = await login_with(client, PHONE)
    laptop = await login_with(client, LAPTOP)
    assert (await end(client, phone, session_id(laptop))).status_code == 204
    assert (await refresh(client, laptop)).status_code == 401
    # This worker refuses its access tokens at once (others: the next test).
    stale = await client.get("/users/me", headers=bearer(laptop["access_token"]))
    assert stale.status_code == 401
    assert (await client.get("/users/me", headers=bearer(phone["access_token"]))).is_success
    assert [entry["id"] for entry in await sessions(client, phone)] == [session_id(phone)]
    # Ended is ended: a second time it is not found.
    assert (await end(client, phone, session_id(laptop))).status_code == 404
    assert (await refresh(client, phone)).status_code == 200


async def test_an_ended_session_reaches_another_worker_within_a_second(
    settings: Settings, client: httpx.AsyncClient, user_id: str
) -> None:
    phone = await login_with(client, PHONE)
    laptop = await login_with(client, LAPTOP)
    other_worker = create_app(settings)
    async with (
        other_worker.router.lifespan_context(other_worker),
        client_for(other_worker) as other,
    ):
        headers = bearer(laptop["access_token"])
        assert (await other.get("/protected", headers=headers)).status_code == 200
        assert (await end(client, phone, session_id(laptop))).status_code == 204
        deadline = time.monotonic() + 1.0
        while (await other.get("/protected", headers=headers)).status_code == 200:
            assert time.monotonic() < deadline, "the end did not reach the other worker in 1 s"
            await asyncio.sleep(0.02)


async def test_another_users_session_is_not_found_and_goes_on(
    app: FastAPI, client: httpx.AsyncClient, user_id: str
) -> None:
    await add_user(app, "bob@example.com")
    bob_response = await login(client, "bob@example.com")
    bob = bob_response.json()
    alice = await login_with(client, PHONE)
    foreign = await end(client, alice, session_id(bob))
    unknown = await end(client, alice, uuid.uuid4().hex)
    assert foreign.status_code == unknown.status_code == 404
    assert foreign.json() == unknown.json() == {"detail": "Session not found"}
    assert (await client.get("/users/me", headers=bearer(bob["access_token"]))).is_success
    assert (await refresh(client, bob)).status_code == 200
    # Nor does bob's session show in alice's list.
    assert [entry["id"] for entry in await sessions(client, alice)] == [session_id(alice)]


async def test_ids_that_cannot_be_sessions_are_not_found_too(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    for sid in ("x", "%00" * 32, "A" * 32, "0" * 2000, session_id(tokens).upper()):
        response = await end(client, tokens, sid)
        assert response.status_code == 404, sid
        assert response.json() == {"detail": "Session not found"}
    assert (await refresh(client, tokens)).status_code == 200


async def test_ending_the_calling_session_is_a_logout(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    assert (await end(client, tokens, session_id(tokens))).status_code == 204
    assert (
        await client.get("/protected", headers=bearer(tokens["access_token"]))
    ).status_code == 401
    assert (await refresh(client, tokens)).status_code == 401


async def test_ending_a_session_needs_a_recent_login(
    app: FastAPI, client: httpx.AsyncClient, user_id: str
) -> None:
    phone = await login_with(client, PHONE)
    laptop = await login_with(client, LAPTOP)
    old = old_login_token(app, user_id, phone)
    response = await client.delete(f"/auth/sessions/{session_id(laptop)}", headers=bearer(old))
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert 'error="insufficient_user_authentication"' in challenge
    assert "max_age=600" in challenge
    assert (await refresh(client, laptop)).status_code == 200
    # Listing does not need a recent login.
    listed = await client.get("/auth/sessions", headers=bearer(old))
    assert listed.status_code == 200
    assert len(listed.json()) == 2


async def test_both_need_the_profile_scope(
    app: FastAPI, client: httpx.AsyncClient, user_id: str, tokens: dict[str, str]
) -> None:
    unscoped = bearer(sign(app, access_claims(user_id, sid=session_id(tokens), scope=None)))
    listed = await client.get("/auth/sessions", headers=unscoped)
    ended = await client.delete(f"/auth/sessions/{session_id(tokens)}", headers=unscoped)
    for response in (listed, ended):
        assert response.status_code == 403
        assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    assert (await refresh(client, tokens)).status_code == 200


async def test_both_need_a_token(client: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    assert (await client.get("/auth/sessions")).status_code == 401
    assert (await client.delete(f"/auth/sessions/{session_id(tokens)}")).status_code == 401
    assert (await refresh(client, tokens)).status_code == 200


async def test_the_openapi_document_describes_every_answer(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert {"200", "401", "403", "503"} <= set(paths["/auth/sessions"]["get"]["responses"])
    assert {"204", "401", "403", "404", "503"} <= set(
        paths["/auth/sessions/{session_id}"]["delete"]["responses"]
    )
