"""POST /auth/revoke: token revocation (RFC 7009)."""

import logging

import httpx
import jwt
import pytest

from conftest import bearer, login


async def _revoke(client: httpx.AsyncClient, **form: str) -> httpx.Response:
    return await client.post("/auth/revoke", data=form)


def _revocations(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "event", None) == "token_revoked"]


def _session_of(token: str) -> str:
    return str(jwt.decode(token, options={"verify_signature": False})["sid"])


def _assert_revocation_answer(response: httpx.Response) -> None:
    # RFC 7009 section 2.2: 200, whatever the token was; the body carries nothing.
    assert response.status_code == 200, response.text
    assert response.content == b""
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("hint", [None, "refresh_token", "access_token", "something_else"])
async def test_revoking_a_refresh_token_ends_its_session(
    caplog: pytest.LogCaptureFixture,
    client: httpx.AsyncClient,
    tokens: dict[str, str],
    user_id: str,
    hint: str | None,
) -> None:
    """The hint never changes the outcome: each token says its own type (section 2.1 lets
    the server ignore the hint)."""
    form = {"token": tokens["refresh_token"]} | ({"token_type_hint": hint} if hint else {})
    _assert_revocation_answer(await _revoke(client, **form))
    # Section 2.1: revoking a refresh token also invalidates the access tokens of its grant.
    assert (
        await client.get("/protected", headers=bearer(tokens["access_token"]))
    ).status_code == 401
    refresh = await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refresh.status_code == 401
    [record] = _revocations(caplog)
    assert (record.user_id, record.session_id) == (user_id, _session_of(tokens["access_token"]))  # type: ignore[attr-defined]


async def test_revoking_an_access_token_ends_its_session(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    _assert_revocation_answer(await _revoke(client, token=tokens["access_token"]))
    assert (
        await client.get("/protected", headers=bearer(tokens["access_token"]))
    ).status_code == 401
    refresh = await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refresh.status_code == 401


async def test_other_sessions_survive(client: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    other = (await login(client)).json()
    await _revoke(client, token=tokens["refresh_token"])
    assert (
        await client.get("/protected", headers=bearer(other["access_token"]))
    ).status_code == 200


@pytest.mark.parametrize(
    "token",
    ["not-a-token", "x" * 5000, "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0."],
    ids=["garbage", "oversized", "alg-none"],
)
async def test_invalid_tokens_get_the_same_200_and_change_nothing(
    caplog: pytest.LogCaptureFixture,
    client: httpx.AsyncClient,
    tokens: dict[str, str],
    token: str,
) -> None:
    _assert_revocation_answer(await _revoke(client, token=token))
    assert (
        await client.get("/protected", headers=bearer(tokens["access_token"]))
    ).status_code == 200
    assert _revocations(caplog) == []


async def test_revoking_twice_is_a_200_and_audited_once(
    caplog: pytest.LogCaptureFixture, client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    _assert_revocation_answer(await _revoke(client, token=tokens["access_token"]))
    _assert_revocation_answer(await _revoke(client, token=tokens["access_token"]))
    assert len(_revocations(caplog)) == 1


async def test_a_request_without_a_token_is_an_invalid_request(client: httpx.AsyncClient) -> None:
    response = await _revoke(client, token_type_hint="access_token")
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_request",
        "error_description": "Missing parameter: token",
    }
    assert response.headers["cache-control"] == "no-store"


async def test_the_openapi_document_describes_revocation(client: httpx.AsyncClient) -> None:
    operation = (await client.get("/openapi.json")).json()["paths"]["/auth/revoke"]["post"]
    assert {"200", "400", "413", "503"} <= set(operation["responses"])
    assert "security" not in operation
    assert "application/x-www-form-urlencoded" in operation["requestBody"]["content"]
