"""Algorithm confusion (RFC 8725 sections 2.1, 3.1): with a key pair, a token never chooses
how it is verified. Every case runs for EdDSA, ES256 and RS256, whatever the project's
configured algorithm, because JWT_ALGORITHM can be changed at deploy time."""

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator, Callable

import httpx
import jwt
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives import serialization
from fastapi import FastAPI
from jwt.algorithms import get_default_algorithms

from conftest import (
    ASYMMETRIC_ALGORITHMS,
    SECRET_KEY,
    SharedLogin,
    access_claims,
    bearer,
    foreign_key,
    logged_in,
    make_settings,
    running,
    shared_settings,
    sign,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=ASYMMETRIC_ALGORITHMS)
async def shared(
    request: pytest.FixtureRequest, module_database_url: str
) -> AsyncIterator[SharedLogin]:
    """One app per algorithm, shared by the module's tests: they only send requests."""
    algorithm = request.param
    settings = shared_settings(module_database_url, jwt_algorithm=algorithm)
    async with logged_in(settings, f"{algorithm.lower()}@example.com") as login:
        yield login


@pytest.fixture
def app(shared: SharedLogin) -> FastAPI:
    return shared.app


@pytest.fixture
def client(shared: SharedLogin) -> httpx.AsyncClient:
    return shared.http


@pytest.fixture
def user_id(shared: SharedLogin) -> str:
    return shared.user_id


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _json(value: object) -> str:
    return _b64(json.dumps(value).encode())


def _assemble(
    header: dict[str, object], claims: dict[str, object], signer: Callable[[bytes], bytes]
) -> str:
    """A compact JWS built by hand, for headers and signatures PyJWT would refuse to make."""
    signing_input = f"{_json(header)}.{_json(claims)}"
    return f"{signing_input}.{_b64(signer(signing_input.encode()))}"


def _public_key_forms(app: FastAPI) -> dict[str, bytes]:
    """Every byte form of our public key an attacker could use as an HMAC secret."""
    public_key = app.state.services.keys.current.verifying_key
    forms = {
        "pem": public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "der": public_key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "openssh": public_key.public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        ),
        "jwk": json.dumps(app.state.services.keys.current.public_jwk).encode(),
    }
    forms["pem-without-newline"] = forms["pem"].rstrip(b"\n")
    return forms


async def _status(client: httpx.AsyncClient, token: str) -> int:
    return (await client.get("/protected", headers=bearer(token))).status_code


async def test_our_own_tokens_verify(app: FastAPI, client: httpx.AsyncClient, user_id: str) -> None:
    assert await _status(client, sign(app, access_claims(user_id))) == 200


async def test_hs256_keyed_with_our_public_key_is_rejected(
    app: FastAPI, client: httpx.AsyncClient, user_id: str
) -> None:
    header = {"alg": "HS256", "typ": "JWT", "kid": app.state.services.keys.current.kid}
    for form, secret in _public_key_forms(app).items():
        token = _assemble(
            header,
            access_claims(user_id),
            lambda data, secret=secret: hmac.new(secret, data, hashlib.sha256).digest(),
        )
        assert await _status(client, token) == 401, form
    # Nor is the service's SECRET_KEY a second way in once a key pair signs.
    token = _assemble(
        header,
        access_claims(user_id),
        lambda data: hmac.new(SECRET_KEY.encode(), data, hashlib.sha256).digest(),
    )
    assert await _status(client, token) == 401


@pytest.mark.parametrize("member", ["jwk", "jku", "x5u", "x5c"])
async def test_a_token_cannot_bring_its_own_key(
    app: FastAPI, client: httpx.AsyncClient, user_id: str, member: str
) -> None:
    attacker = foreign_key(app.state.services.keys.current.algorithm)
    value: object = {
        "jwk": attacker.public_jwk,
        "jku": "http://127.0.0.1:9/jwks.json",
        "x5u": "http://127.0.0.1:9/cert.pem",
        "x5c": ["MIIB"],
    }[member]
    claims = access_claims(user_id)
    for kid in (app.state.services.keys.current.kid, attacker.kid, None):
        token = sign(app, claims, key=attacker, kid=kid, **{member: value})
        assert await _status(client, token) == 401, kid
    # The members are refused even on a genuine signature: we never issue them.
    assert await _status(client, sign(app, claims, **{member: value})) == 401


async def test_a_key_of_the_same_type_that_is_not_ours_is_rejected(
    app: FastAPI, client: httpx.AsyncClient, user_id: str
) -> None:
    attacker = foreign_key(app.state.services.keys.current.algorithm)
    token = sign(app, access_claims(user_id), key=attacker, kid=app.state.services.keys.current.kid)
    assert await _status(client, token) == 401


async def test_an_all_zero_signature_is_rejected(
    app: FastAPI, client: httpx.AsyncClient, user_id: str
) -> None:
    """For ES256 this is the "psychic signature", r = s = 0 (CVE-2022-21449)."""
    key = app.state.services.keys.current
    reference = sign(app, access_claims(user_id))
    size = len(base64.urlsafe_b64decode(reference.rsplit(".", 1)[1] + "=="))
    header = {"alg": key.algorithm, "typ": "JWT", "kid": key.kid}
    token = _assemble(header, access_claims(user_id), lambda _: bytes(size))
    assert await _status(client, token) == 401


async def test_another_asymmetric_algorithm_in_the_header_is_rejected(
    app: FastAPI, client: httpx.AsyncClient, user_id: str
) -> None:
    ours = app.state.services.keys.current
    for algorithm in set(ASYMMETRIC_ALGORITHMS) - {ours.algorithm}:
        attacker = foreign_key(algorithm)
        token = sign(app, access_claims(user_id), key=attacker, kid=ours.kid)
        assert await _status(client, token) == 401, algorithm


# Every algorithm PyJWT knows, plus names it might learn (RFC 9864's "Ed25519") or never will.
ALG_LABELS = sorted({*get_default_algorithms(), "Ed25519", "ES256K", "RS1", "HS1"})


async def test_our_signature_under_another_alg_label_is_rejected(
    app: FastAPI, client: httpx.AsyncClient, user_id: str
) -> None:
    """Signed by our real key, but the header names another algorithm: the kid's own
    algorithm is the only one accepted."""
    ours = app.state.services.keys.current
    our_signer = get_default_algorithms()[ours.algorithm]
    signing_key = our_signer.prepare_key(ours.signing_key)
    for label in set(ALG_LABELS) - {ours.algorithm}:
        header = {"alg": label, "typ": "JWT", "kid": ours.kid}
        token = _assemble(
            header, access_claims(user_id), lambda data: our_signer.sign(data, signing_key)
        )
        assert await _status(client, token) == 401, label


# Our own key family with a hash or padding we do not use.
SIBLINGS = {"HS256": ["HS384", "HS512"], "RS256": ["RS384", "RS512", "PS256", "PS512"]}


@pytest.mark.parametrize("algorithm", SIBLINGS)
async def test_genuine_signatures_with_a_sibling_algorithm_are_rejected(
    database_url: str, algorithm: str
) -> None:
    """Our own key and a real signature, but with a hash or padding we do not use."""
    async with running(make_settings(database_url, jwt_algorithm=algorithm)) as (application, http):
        key = application.state.services.keys.current
        claims = access_claims(uuid.uuid4().hex)
        assert await _status(http, sign(application, claims)) == 200
        for sibling in SIBLINGS[algorithm]:
            token = jwt.encode(claims, key.signing_key, algorithm=sibling, headers={"kid": key.kid})
            assert await _status(http, token) == 401, sibling
