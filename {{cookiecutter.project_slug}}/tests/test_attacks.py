"""The JWT attack catalog, walked against the app with the project's own algorithm.

Every entry is one forged request, named after the attack class it belongs to and where that
class is described:

- RFC 8725 (JWT Best Current Practices), by section;
- the OWASP JSON Web Token cheat sheet ("JWT-CS") and WSTG-SESS-10 (testing JSON Web Tokens);
- jwt_tool's all-tests mode (`-M at`): its exploits `-X a` (alg none), `-X n` (null
  signature), `-X b` (blank password), `-X s` (spoofed JWKS), `-X i` (inline JWKS), `-X k`
  (key confusion), `-X p` (psychic signature), and its tampering and injection checks.

Each forged request must be refused: 401 with a `WWW-Authenticate: Bearer` challenge (another 4xx
for a bad body), never a 5xx, and never an answer that echoes the token. The control test first
proves that the genuine version of each request is accepted, so a refusal here means the attack
failed, not the setup. test_algorithm_confusion.py adds the key-pair attacks for every
asymmetric algorithm whatever this project's algorithm is.
"""

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from fastapi import FastAPI
from jwt.algorithms import get_default_algorithms
from sqlalchemy import delete, update

from {{ cookiecutter.package_name }}.users.models import User

from conftest import (
    ALGORITHM,
    SharedLogin,
    access_claims,
    bearer,
    foreign_key,
    logged_in,
    login,
    make_settings,
    sign,
)


@dataclass
class Target:
    """What an attacker can hold: the app's public face and one genuine login."""

    app: FastAPI
    user_id: str
    tokens: dict[str, str]

    @property
    def access_token(self) -> str:
        return self.tokens["access_token"]

    def claims(self, **changes: object) -> dict[str, object]:
        """Valid access-token claims for the user, with `changes` (None drops a claim)."""
        return access_claims(self.user_id, **changes)


@dataclass
class Forged:
    """A request to send, the token it carries (which the answer must never echo), and the
    status it must get: 401 for credentials, any 4xx (None) for a bad body, with the challenge
    a 401 must carry."""

    request: dict[str, Any]
    token: str = ""
    status: int | None = 401
    # RFC 6750 3.1: "invalid_token" when a token was sent, a bare challenge when none was.
    challenge: str = 'Bearer error="invalid_token"'


@dataclass(frozen=True)
class Attack:
    name: str
    source: str
    forge: Callable[[Target], Forged]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segment(value: object) -> str:
    return _b64(json.dumps(value).encode())


def _bearer_get(token: str, path: str = "/protected") -> Forged:
    return Forged({"method": "GET", "url": path, "headers": bearer(token)}, token)


def _with_authorization(value: str | bytes, token: str) -> Forged:
    return Forged(
        {"method": "GET", "url": "/protected", "headers": {"Authorization": value}}, token
    )


def _our_header(target: Target, **changes: object) -> dict[str, object]:
    key = target.app.state.services.keys.current
    header: dict[str, object] = {"alg": key.algorithm, "typ": "JWT", "kid": key.kid}
    header.update(changes)
    return {name: value for name, value in header.items() if value is not None}


def _assemble(header: object, claims: object, signer: Callable[[bytes], bytes]) -> str:
    """A compact JWS built by hand, for headers and signatures PyJWT refuses to make. Claims
    given as bytes are used as they are (JSON that `json.dumps` could not produce)."""
    payload = _b64(claims) if isinstance(claims, bytes) else _segment(claims)
    signing_input = f"{_segment(header)}.{payload}"
    return f"{signing_input}.{_b64(signer(signing_input.encode()))}"


def _signed_by_us(target: Target, header: object, claims: object) -> str:
    """Our real key's real signature over any header and claims, however malformed."""
    key = target.app.state.services.keys.current
    algorithm = get_default_algorithms()[key.algorithm]
    prepared = algorithm.prepare_key(key.signing_key)
    return _assemble(header, claims, lambda data: algorithm.sign(data, prepared))


def _hmac_signed(target: Target, secret: bytes, **header: object) -> str:
    """An HS256 token under our kid, keyed with `secret` (a guess, or our public key)."""
    return _assemble(
        _our_header(target, alg="HS256", **header),
        target.claims(),
        lambda data: hmac.new(secret, data, hashlib.sha256).digest(),
    )


def _unsigned(target: Target, alg: str, signature: str = "") -> str:
    header = _segment(_our_header(target, alg=alg))
    return f"{header}.{_segment(target.claims())}.{signature}"


def _swap_signature_char(token: str) -> str:
    head, payload, signature = token.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    return f"{head}.{payload}.{flipped}"


def _tampered_payload(target: Target) -> str:
    """The genuine token's header and signature over claims naming another user."""
    head, _, signature = target.access_token.split(".")
    return f"{head}.{_segment(target.claims(sub=uuid.uuid4().hex))}.{signature}"


def _transplanted_signature(target: Target) -> str:
    """Our forged claims with the signature of a genuine token."""
    forged = sign(target.app, target.claims(), key=foreign_key(ALGORITHM))
    head, payload, _ = forged.split(".")
    return f"{head}.{payload}.{target.access_token.rsplit('.', 1)[1]}"


def _zero_signature(target: Target) -> str:
    """All-zero signature bytes of the right size; for ES256 this is r = s = 0, the
    "psychic signature" of CVE-2022-21449."""
    size = len(base64.urlsafe_b64decode(target.access_token.rsplit(".", 1)[1] + "=="))
    return _assemble(_our_header(target), target.claims(), lambda _: bytes(size))


def _public_key_bytes(target: Target, encoding: serialization.Encoding) -> bytes:
    return target.app.state.services.keys.current.verifying_key.public_bytes(
        encoding, serialization.PublicFormat.SubjectPublicKeyInfo
    )


# The same key family with a hash or padding we do not use.
_SIBLING_ALGORITHMS = {
    "HS256": ["HS384", "HS512"],
    "RS256": ["RS384", "RS512", "PS256"],
    "ES256": ["ES384", "ES512"],
    "EdDSA": [],
}


def _sibling(target: Target, alg: str) -> str:
    """A genuine signature by our own key, with a sibling algorithm."""
    signing_key = target.app.state.services.keys.current.signing_key
    algorithm = get_default_algorithms()[alg]
    return _assemble(
        _our_header(target, alg=alg),
        target.claims(),
        lambda data: algorithm.sign(data, signing_key),
    )


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def _claim_tricks() -> list[Attack]:
    """Claim tricks (RFC 8725 3.8-3.10, JWT-CS "token expiry", WSTG-SESS-10): each token is
    signed by our own key, so only the claims can make it fail."""
    now = int(time.time())
    source = "RFC 8725 3.8-3.10; JWT-CS; WSTG-SESS-10; jwt_tool claim tampering"
    cases: dict[str, dict[str, object]] = {
        "expired": {"iat": now - 3600, "exp": now - 60},
        "not-yet-valid": {"nbf": now + 3600},
        "issued-in-future": {"iat": now + 3600, "exp": now + 3900},
        "absurd-exp": {"exp": now + 10 * 365 * 86400},
        "exp-beyond-int64": {"exp": 2**64},
        "exp-as-float-inf": {"exp": 1e308},
        "exp-negative": {"exp": -1},
        "exp-as-string": {"exp": str(now + 300)},
        "exp-as-bool": {"exp": True},
        "iat-as-string": {"iat": str(now)},
        "nbf-as-string": {"nbf": "now"},
        "foreign-issuer": {"iss": "https://evil.example"},
        "issuer-case": {"iss": "{{ cookiecutter.package_name }}".upper()},
        "foreign-audience": {"aud": "another-service"},
        "audience-list": {"aud": ["{{ cookiecutter.package_name }}", "another-service"]},
        "sub-as-number": {"sub": 42},
        "sub-empty": {"sub": ""},
        "sub-as-list": {"sub": ["x"]},
        "sid-as-object": {"sid": {"$ne": ""}},
        "jti-empty": {"jti": ""},
        "type-refresh": {"type": "refresh"},
        "type-case": {"type": "ACCESS"},
        "type-id-token": {"type": "id"},
        "type-as-list": {"type": ["access"]},
    }
    cases |= {
        f"missing-{claim}": {claim: None}
        for claim in ("exp", "iat", "sub", "jti", "sid", "type", "iss", "aud", "auth_time")
    }
    return [
        Attack(
            name,
            source,
            lambda t, changes=changes: _bearer_get(
                _signed_by_us(t, _our_header(t), t.claims(**changes))
            ),
        )
        for name, changes in cases.items()
    ]


def _scope_tricks() -> list[Attack]:
    """Scope tricks (RFC 9068 2.2.3, RFC 6749 3.3), against a route that needs the `profile`
    scope: a scope another verifier would read differently, a login time that is not one,
    and scopes widened under a key or signature that is not ours."""
    now = int(time.time())
    source = "RFC 9068 2.2.3; RFC 6749 3.3; RFC 8725 3.9"
    cases: dict[str, dict[str, object]] = {
        "scope-as-list": {"scope": ["profile", "admin"]},
        "scope-as-object": {"scope": {"profile": True, "admin": True}},
        "scope-as-number": {"scope": 1},
        "scope-empty": {"scope": ""},
        "scope-with-a-quote": {"scope": 'profile" admin'},
        "scope-double-space": {"scope": "profile  admin"},
        "scope-newline": {"scope": "profile\nadmin"},
        "auth_time-as-string": {"auth_time": str(now)},
        "auth_time-as-bool": {"auth_time": True},
    }
    widened = {"scope": "admin profile"}
    return [
        *(
            Attack(
                name,
                source,
                lambda t, changes=changes: _bearer_get(
                    _signed_by_us(t, _our_header(t), t.claims(**changes)), "/users/me"
                ),
            )
            for name, changes in cases.items()
        ),
        # The time is read when the token is forged, not when the catalog is collected: a
        # suite that runs for minutes before this test would make a fixed "future" the past.
        Attack(
            "auth_time-after-iat",
            source,
            lambda t: _bearer_get(
                _signed_by_us(t, _our_header(t), t.claims(auth_time=int(time.time()) + 60)),
                "/users/me",
            ),
        ),
        Attack(
            "scope-widened-by-an-attackers-key",
            source + "; jwt_tool -X s",
            lambda t: _bearer_get(
                sign(t.app, t.claims(**widened), key=foreign_key(ALGORITHM)), "/users/me"
            ),
        ),
        Attack(
            "scope-widened-under-the-genuine-signature",
            source + "; jwt_tool tamper (-T)",
            lambda t: _bearer_get(
                ".".join(
                    (
                        t.access_token.split(".")[0],
                        _segment(
                            jwt.decode(t.access_token, options={"verify_signature": False})
                            | widened
                        ),
                        t.access_token.split(".")[2],
                    )
                ),
                "/users/me",
            ),
        ),
    ]


CATALOG: list[Attack] = [
    # Signature and algorithm tricks.
    *(
        Attack(
            f"alg-{alg}",
            "RFC 8725 2.1, 3.1; JWT-CS none algorithm; jwt_tool -X a",
            lambda t, alg=alg: _bearer_get(_unsigned(t, alg)),
        )
        for alg in ("none", "None", "NONE", "nOnE")
    ),
    Attack(
        "alg-none-with-signature",
        "jwt_tool -X a",
        lambda t: _bearer_get(_unsigned(t, "none", t.access_token.rsplit(".", 1)[1])),
    ),
    Attack(
        "signature-stripped",
        "RFC 8725 3.1; jwt_tool -X n (null signature)",
        lambda t: _bearer_get(t.access_token.rsplit(".", 1)[0] + "."),
    ),
    Attack(
        "signature-segment-missing",
        "jwt_tool -X n",
        lambda t: _bearer_get(t.access_token.rsplit(".", 1)[0]),
    ),
    Attack(
        "signature-flipped",
        "WSTG-SESS-10 signature verification",
        lambda t: _bearer_get(_swap_signature_char(t.access_token)),
    ),
    Attack(
        "payload-tampered-genuine-signature",
        "WSTG-SESS-10; jwt_tool tamper (-T) with the original signature",
        lambda t: _bearer_get(_tampered_payload(t)),
    ),
    Attack(
        "signature-transplanted",
        "WSTG-SESS-10 signature verification",
        lambda t: _bearer_get(_transplanted_signature(t)),
    ),
    Attack(
        "extra-segments-jwe-shape",
        "RFC 7516 (a JWE-shaped token is not a JWS)",
        lambda t: _bearer_get(t.access_token + ".AAAA.BBBB"),
    ),
    Attack(
        "zero-signature-psychic",
        "CVE-2022-21449; jwt_tool -X p",
        lambda t: _bearer_get(_zero_signature(t)),
    ),
    Attack(
        "foreign-key-same-type",
        "WSTG-SESS-10 (signature verification)",
        lambda t: _bearer_get(
            sign(
                t.app,
                t.claims(),
                key=foreign_key(ALGORITHM),
                kid=t.app.state.services.keys.current.kid,
            )
        ),
    ),
    *(
        Attack(
            f"guessed-hmac-secret-{name}",
            "RFC 8725 3.5; JWT-CS weak secret; jwt_tool -X b (blank password) and -C (crack)",
            lambda t, secret=secret: _bearer_get(_hmac_signed(t, secret)),
        )
        for name, secret in (
            ("blank", b""),
            ("secret", b"secret"),
            ("jwt-io-default", b"your-256-bit-secret"),
            ("changeme", b"change-me-to-a-long-random-secret-key-0123456789"),
        )
    ),
    *(
        Attack(
            f"sibling-algorithm-{alg}-real-key",
            "RFC 8725 3.1 (use the algorithm that was configured, exactly)",
            lambda t, alg=alg: _bearer_get(_sibling(t, alg)),
        )
        for alg in _SIBLING_ALGORITHMS[ALGORITHM]
    ),
    *(
        Attack(
            f"our-signature-under-alg-{label}",
            "RFC 8725 3.1; jwt_tool alg swapping",
            lambda t, label=label: _bearer_get(
                _signed_by_us(t, _our_header(t, alg=label), t.claims())
            ),
        )
        for label in sorted(
            {"HS256", "HS384", "RS256", "PS256", "ES256", "EdDSA", "Ed25519"} - {ALGORITHM}
        )
    ),
    *(
        Attack(
            f"key-confusion-hs256-with-public-key-{form}",
            "RFC 8725 2.1, 3.1; JWT-CS; jwt_tool -X k",
            lambda t, encoding=encoding: _bearer_get(
                _hmac_signed(t, _public_key_bytes(t, encoding))
            ),
        )
        for form, encoding in (
            ("pem", serialization.Encoding.PEM),
            ("der", serialization.Encoding.DER),
        )
        # With HS256 there is no public key to confuse the secret with.
        if ALGORITHM != "HS256"
    ),
    Attack(
        "embedded-jwk-attacker-key",
        "RFC 8725 3.10; JWT-CS; jwt_tool -X i (inline JWKS, CVE-2018-0114)",
        lambda t: _bearer_get(_embedded_jwk(t)),
    ),
    *(
        Attack(
            f"remote-key-{member}",
            "JWT-CS; WSTG-SESS-10; jwt_tool -X s (spoofed JWKS)",
            lambda t, member=member, value=value: _bearer_get(
                sign(t.app, t.claims(), key=foreign_key(ALGORITHM), **{member: value})
            ),
        )
        for member, value in (
            ("jku", "http://127.0.0.1:9/jwks.json"),
            ("x5u", "http://127.0.0.1:9/cert.pem"),
            ("x5c", ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]),
        )
    ),
    Attack(
        "crit-unknown-extension",
        "RFC 7515 4.1.11; RFC 7797 (b64: false)",
        lambda t: _bearer_get(
            _signed_by_us(t, _our_header(t, crit=["b64"], b64=False), t.claims())
        ),
    ),
    Attack(
        "crit-registered-claim",
        "RFC 7515 4.1.11",
        lambda t: _bearer_get(_signed_by_us(t, _our_header(t, crit=["exp"]), t.claims())),
    ),
    *(
        Attack(
            f"kid-{name}",
            "JWT-CS kid injection; jwt_tool injection checks",
            # Keyed with what the injection would make the server use, else signed by us.
            lambda t, kid=kid, secret=secret: _bearer_get(
                _signed_by_us(t, _our_header(t, kid=kid), t.claims())
                if secret is None
                else _hmac_signed(t, secret, kid=kid)
            ),
        )
        for name, kid, secret in (
            ("path-traversal-to-empty-file", "../../../../../../dev/null", b""),
            ("sql-union", "x' UNION SELECT 'secret' -- ", b"secret"),
            ("command", "key|sleep 5", None),
            ("nul-byte", "k\x00", None),
            ("unknown", "0" * 32, None),
            ("huge", "k" * 3000, None),
            ("number", 0, None),
            ("list", ["a"], None),
            ("object", {"$ne": None}, None),
        )
    ),
    Attack(
        "kid-missing",
        "RFC 8725 3.10 (the key is chosen by us, from our own kids)",
        lambda t: _bearer_get(_signed_by_us(t, _our_header(t, kid=None), t.claims())),
    ),
    *(
        Attack(
            f"header-not-an-object-{name}",
            "RFC 7515 5.2 (malformed JOSE header)",
            lambda t, header=header: _bearer_get(_signed_by_us(t, header, t.claims())),
        )
        for name, header in (("list", ["HS256"]), ("string", "HS256"), ("null", None))
    ),
    Attack(
        "claims-not-an-object",
        "RFC 7519 7.2 (claims must be a JSON object)",
        lambda t: _bearer_get(_signed_by_us(t, _our_header(t), ["sub"])),
    ),
    # Claim tricks.
    *_claim_tricks(),
    Attack(
        "unknown-user",
        "WSTG-SESS-10 (a valid signature for a user who does not exist)",
        lambda t: _bearer_get(sign(t.app, access_claims(uuid.uuid4().hex)), "/users/me"),
    ),
    # Type confusion.
    Attack(
        "refresh-token-as-access",
        "RFC 8725 2.8, 3.11",
        lambda t: _bearer_get(t.tokens["refresh_token"]),
    ),
    Attack(
        "refresh-token-for-the-user",
        "RFC 8725 2.8, 3.11",
        lambda t: _bearer_get(t.tokens["refresh_token"], "/users/me"),
    ),
    Attack(
        "access-token-as-refresh",
        "RFC 8725 2.8, 3.11",
        lambda t: Forged(
            {"method": "POST", "url": "/auth/refresh", "json": {"refresh_token": t.access_token}},
            t.access_token,
        ),
    ),
    Attack(
        "refresh-token-to-log-out-everywhere",
        "RFC 8725 3.11",
        lambda t: Forged(
            {
                "method": "POST",
                "url": "/auth/logout-all",
                "headers": bearer(t.tokens["refresh_token"]),
            },
            t.tokens["refresh_token"],
        ),
    ),
    # Transport tricks.
    Attack(
        "token-in-query-string",
        "RFC 6750 5.3; WSTG-SESS-10",
        lambda t: Forged(
            {"method": "GET", "url": "/protected", "params": {"access_token": t.access_token}},
            t.access_token,
            challenge="Bearer",
        ),
    ),
    Attack(
        "token-in-form-body",
        "RFC 6750 2.2 (not supported, on purpose)",
        lambda t: Forged(
            {"method": "POST", "url": "/auth/logout-all", "data": {"access_token": t.access_token}},
            t.access_token,
            challenge="Bearer",
        ),
    ),
    Attack(
        "token-in-a-plain-cookie",
        "JWT-CS token storage (only the __Host- cookie of cookie_auth, never another name)",
        lambda t: Forged(
            {
                "method": "GET",
                "url": "/protected",
                "headers": {"Cookie": f"access_token={t.access_token}; token={t.access_token}"},
            },
            t.access_token,
            challenge="Bearer",
        ),
    ),
    Attack(
        "two-authorization-headers",
        "RFC 9110 5.3 (a proxy and the app could read different ones)",
        lambda t: Forged(
            {
                "method": "GET",
                "url": "/protected",
                "headers": [("Authorization", f"Bearer {t.access_token}")] * 2,
            },
            t.access_token,
        ),
    ),
    Attack(
        "two-authorization-headers-one-forged",
        "RFC 9110 5.3",
        lambda t: Forged(
            {
                "method": "GET",
                "url": "/protected",
                "headers": [
                    ("Authorization", "Bearer forged"),
                    ("Authorization", f"Bearer {t.access_token}"),
                ],
            },
            t.access_token,
        ),
    ),
    *(
        Attack(
            f"authorization-{name}",
            "RFC 6750 2.1 (exactly `Bearer <token>`)",
            lambda t, shape=shape: _with_authorization(
                shape.format(t.access_token), t.access_token
            ),
        )
        for name, shape in (
            ("merged-values", "Bearer {0}, Bearer {0}"),
            ("basic-scheme", "Basic {0}"),
            ("token-scheme", "Token {0}"),
            ("jwt-scheme", "JWT {0}"),
            ("no-scheme", "{0}"),
            ("scheme-only", "Bearer"),
            ("scheme-and-space", "Bearer "),
            ("two-spaces", "Bearer  {0}"),
            ("tab", "Bearer\t{0}"),
            ("trailing-garbage", "Bearer {0} x"),
            ("quoted", 'Bearer "{0}"'),
            ("scheme-glued", "Bearer{0}"),
        )
    ),
    Attack(
        "authorization-latin-1-bytes",
        "RFC 9110 5.5 (obs-text in a field value)",
        lambda t: _with_authorization(
            f"Bearer {t.access_token}\xe9".encode("latin-1"), t.access_token
        ),
    ),
    *(
        Attack(
            f"malformed-{name}",
            "RFC 7515 7.1 (compact serialization); WSTG-SESS-10",
            lambda t, token=token: _with_authorization(f"Bearer {token}".encode("latin-1"), token),
        )
        for name, token in (
            ("word", "garbage"),
            ("three-parts", "a.b.c"),
            ("empty-parts", ".."),
            ("empty-middle", "a..c"),
            ("base64-padding", "eyJ.eyJ.sig="),
            ("standard-base64", "eyJ+/.eyJ+/.sig+/"),
            ("json-null", "null"),
            ("non-ascii", "\xe9.\xe9.\xe9"),
            ("nul-bytes", "\x00.\x00.\x00"),
        )
    ),
    # Scope tricks.
    *_scope_tricks(),
    # Resource abuse.
    Attack(
        "oversized-token",
        "OWASP API4:2023 unrestricted resource consumption",
        lambda t: _bearer_get(t.access_token + "A" * 100_000),
    ),
    Attack(
        "deeply-nested-header",
        "resource exhaustion (JSON nesting past the recursion limit)",
        lambda t: _bearer_get(f"{_b64(_nested(1400))}.{_segment(t.claims())}.c2ln"),
    ),
    Attack(
        "deeply-nested-claims-signed-by-us",
        "resource exhaustion (JSON nesting past the recursion limit)",
        lambda t: _bearer_get(_signed_by_us(t, _our_header(t), _nested(1400))),
    ),
    Attack(
        "many-header-members",
        "resource exhaustion",
        lambda t: _bearer_get(
            _signed_by_us(t, _our_header(t) | {f"x{i}": i for i in range(400)}, t.claims())
        ),
    ),
    Attack(
        "oversized-body",
        "OWASP REST security cheat sheet (limit request size)",
        lambda t: Forged(
            {
                "method": "POST",
                "url": "/auth/refresh",
                "content": b'{"refresh_token": "' + b"A" * 200_000 + b'"}',
                "headers": {"Content-Type": "application/json"},
            },
            status=None,
        ),
    ),
    Attack(
        "deeply-nested-body",
        "resource exhaustion",
        lambda t: Forged(
            {
                "method": "POST",
                "url": "/auth/refresh",
                "content": _nested(30_000),
                "headers": {"Content-Type": "application/json"},
            },
            status=None,
        ),
    ),
    Attack(
        "oversized-login-form",
        "OWASP Authentication cheat sheet (bounded password length)",
        lambda t: Forged(
            {
                "method": "POST",
                "url": "/auth/login",
                "data": {"username": "alice@example.com", "password": "p" * 100_000},
            },
            status=None,
        ),
    ),
]


def _embedded_jwk(target: Target) -> str:
    attacker = foreign_key(ALGORITHM)
    jwk: dict[str, object] = (
        {"kty": "oct", "k": _b64(attacker.signing_key)}
        if ALGORITHM == "HS256"
        else attacker.public_jwk
    )
    return sign(target.app, target.claims(), key=attacker, kid=attacker.kid, jwk=jwk)


pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture
def target(shared_login: SharedLogin) -> Target:
    return Target(shared_login.app, shared_login.user_id, shared_login.tokens)


@pytest.fixture
def client(shared_login: SharedLogin) -> httpx.AsyncClient:
    return shared_login.http


async def test_the_genuine_requests_are_accepted(target: Target, client: httpx.AsyncClient) -> None:
    """The control: what every attack starts from works, so each refusal below is the attack's."""
    genuine = [
        target.access_token,
        sign(target.app, target.claims()),
        _signed_by_us(target, _our_header(target), target.claims()),
    ]
    for token in genuine:
        assert (await client.get("/protected", headers=bearer(token))).status_code == 200
        assert (await client.get("/users/me", headers=bearer(token))).status_code == 200
    # A login of its own: rotating the shared refresh token would revoke the shared session.
    refresh_token = (await login(client)).json()["refresh_token"]
    refreshed = await client.post("/auth/refresh", json={"refresh_token": refresh_token})
    assert refreshed.status_code == 200


@pytest.mark.parametrize(
    "attack",
    [pytest.param(attack, id=attack.name) for attack in CATALOG],
)
async def test_the_attack_is_refused(
    attack: Attack, target: Target, client: httpx.AsyncClient
) -> None:
    forged = attack.forge(target)
    _assert_refused(forged, await client.request(**forged.request), attack.source)


@pytest.mark.parametrize("change", ["deleted", "deactivated"])
async def test_the_token_of_a_removed_user_is_refused(database_url: str, change: str) -> None:
    """A genuine token whose user was deleted or deactivated since (OWASP Authentication cheat
    sheet). It changes the database, so it gets an app of its own."""
    async with logged_in(make_settings(database_url)) as shared:
        async with shared.app.state.services.sessionmaker() as db:
            if change == "deleted":
                await db.execute(delete(User))
            else:
                await db.execute(update(User).values(is_active=False))
            await db.commit()
        forged = _bearer_get(shared.tokens["access_token"], "/users/me")
        response = await shared.http.request(**forged.request)
    _assert_refused(forged, response, change)


def _assert_refused(forged: Forged, response: httpx.Response, source: str) -> None:
    if forged.status is None:
        assert 400 <= response.status_code < 500, (source, response.status_code)
    else:
        assert response.status_code == forged.status, (source, response.text)
    if response.status_code == 401:
        assert response.headers["www-authenticate"] == forged.challenge
    if forged.token:
        assert forged.token not in response.text
        assert all(forged.token not in value for value in response.headers.values())
