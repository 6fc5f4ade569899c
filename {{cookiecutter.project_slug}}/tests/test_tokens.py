"""What the verifier accepts: only our own, current, well-typed access tokens."""

import base64
import json
import time

import httpx
import pytest
from fastapi import FastAPI

from conftest import ALGORITHM, access_claims, bearer, foreign_key, sign


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def _status(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get("/protected", headers=bearer(token))


async def test_a_token_signed_like_ours_is_accepted(
    app: FastAPI, client: httpx.AsyncClient, user_id: str
) -> None:
    response = await _status(client, sign(app, access_claims(user_id)))
    assert response.status_code == 200
    assert response.json() == {"user_id": user_id}


@pytest.mark.parametrize("claim", ["exp", "iat", "sub", "jti", "sid", "type", "iss", "aud"])
async def test_a_missing_required_claim_is_rejected(
    app: FastAPI, client: httpx.AsyncClient, user_id: str, claim: str
) -> None:
    claims = access_claims(user_id)
    del claims[claim]
    response = await _status(client, sign(app, claims))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


@pytest.mark.parametrize(
    "changes",
    [
        {"exp": int(time.time()) - 60, "iat": int(time.time()) - 360},
        {"iat": int(time.time()) + 3600, "exp": int(time.time()) + 3900},
        {"nbf": int(time.time()) + 3600},
        {"iss": "https://evil.example"},
        {"aud": "another-service"},
        {"type": "refresh"},
        {"type": "ACCESS"},
        {"sub": 42},
        {"exp": int(time.time()) + 10 * 365 * 86400},
        {"exp": "tomorrow"},
    ],
    ids=[
        "expired",
        "issued-in-future",
        "not-yet-valid",
        "foreign-issuer",
        "foreign-audience",
        "refresh-type",
        "type-case",
        "non-string-sub",
        "absurd-lifetime",
        "string-exp",
    ],
)
async def test_bad_claims_are_rejected(
    app: FastAPI, client: httpx.AsyncClient, user_id: str, changes: dict[str, object]
) -> None:
    assert (await _status(client, sign(app, access_claims(user_id, **changes)))).status_code == 401


async def test_another_key_is_rejected(
    app: FastAPI, client: httpx.AsyncClient, user_id: str
) -> None:
    kid = app.state.keys.current.kid
    token = sign(app, access_claims(user_id), key=foreign_key(ALGORITHM), kid=kid)
    assert (await _status(client, token)).status_code == 401


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
async def test_unsigned_tokens_are_rejected(
    app: FastAPI, client: httpx.AsyncClient, user_id: str, alg: str
) -> None:
    header = {"alg": alg, "typ": "JWT", "kid": app.state.keys.current.kid}
    token = f"{_b64(header)}.{_b64(access_claims(user_id))}."
    assert (await _status(client, token)).status_code == 401
    assert (await _status(client, token + "c2ln")).status_code == 401


@pytest.mark.parametrize(
    "header",
    [
        {"kid": "../../../../dev/null"},
        {"kid": "' OR '1'='1"},
        {"jku": "https://evil.example/jwks.json"},
        {"x5u": "https://evil.example/cert.pem"},
        {"jwk": {"kty": "oct", "k": "c2VjcmV0"}},
        {"crit": ["exp"]},
    ],
    ids=["kid-traversal", "kid-sql", "jku", "x5u", "embedded-jwk", "crit"],
)
async def test_header_tricks_are_rejected(
    app: FastAPI, client: httpx.AsyncClient, user_id: str, header: dict[str, object]
) -> None:
    assert (await _status(client, sign(app, access_claims(user_id), **header))).status_code == 401


async def test_a_token_without_kid_is_rejected(
    app: FastAPI, client: httpx.AsyncClient, user_id: str
) -> None:
    token = sign(app, access_claims(user_id), kid=None)
    assert (await _status(client, token)).status_code == 401


async def test_a_broken_or_stripped_signature_is_rejected(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    head, payload, signature = tokens["access_token"].split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    for token in (f"{head}.{payload}.", f"{head}.{payload}.{flipped}", f"{head}.{payload}"):
        assert (await _status(client, token)).status_code == 401


@pytest.mark.parametrize(
    "token",
    ["garbage", "a.b.c", "x" * 100_000, "é.é.é", "a..c", "eyJ.eyJ.sig=", "null", "\x00.\x00.\x00"],
    ids=["word", "three-parts", "huge", "latin-1", "empty-part", "padding", "null", "nul-bytes"],
)
async def test_garbage_is_a_clean_401(client: httpx.AsyncClient, token: str) -> None:
    header = f"Bearer {token}".encode("latin-1")
    response = await client.get("/protected", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert token not in response.text


async def test_refresh_token_is_not_an_access_token(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    assert (await _status(client, tokens["refresh_token"])).status_code == 401
