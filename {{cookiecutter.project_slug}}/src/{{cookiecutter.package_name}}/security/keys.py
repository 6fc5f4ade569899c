"""Signing and verification keys, their ids (`kid`) and the public JWKS document.

Each key is bound to exactly one algorithm. Verification looks the key up by the token's
`kid` and uses that key's own algorithm, so a token can never choose how it is checked:
this is what defeats `alg: none` and the HS256-with-the-public-key confusion attack
(RFC 8725 section 2.1 and 3.1).
"""

import base64
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from ..config import Settings, SettingsError

MIN_RSA_BITS = 2048


@dataclass(frozen=True, slots=True)
class Key:
    """One key: what signs (None for verify-only keys) and what verifies, under one algorithm."""

    kid: str
    algorithm: str
    signing_key: Any
    verifying_key: Any
    public_jwk: dict[str, str] | None


@dataclass(frozen=True, slots=True)
class KeySet:
    """The current signing key plus every key a token may still be verified with."""

    current: Key
    by_kid: dict[str, Key]

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The public keys as a JWK Set; empty for HS256, whose key must stay secret."""
        return {"keys": [key.public_jwk for key in self.by_kid.values() if key.public_jwk]}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _thumbprint(jwk: dict[str, str], members: tuple[str, ...]) -> str:
    """RFC 7638 JWK thumbprint: a kid that any holder of the public key can recompute."""
    canonical = json.dumps(
        {name: jwk[name] for name in members}, separators=(",", ":"), sort_keys=True
    )
    return _b64url(hashlib.sha256(canonical.encode()).digest())


def _public_jwk(algorithm: str, public_key: Any) -> tuple[dict[str, str], tuple[str, ...]]:
    if algorithm == "EdDSA":
        return OKPAlgorithm.to_jwk(public_key, as_dict=True), ("crv", "kty", "x")
    if algorithm == "ES256":
        return ECAlgorithm.to_jwk(public_key, as_dict=True), ("crv", "kty", "x", "y")
    return RSAAlgorithm.to_jwk(public_key, as_dict=True), ("e", "kty", "n")


def _check_key_type(algorithm: str, private_key: Any) -> str | None:
    """Say why the key does not fit the algorithm, or None when it does."""
    if algorithm == "EdDSA" and not isinstance(private_key, ed25519.Ed25519PrivateKey):
        return "must be an Ed25519 private key for EdDSA"
    if algorithm == "ES256" and not (
        isinstance(private_key, ec.EllipticCurvePrivateKey)
        and isinstance(private_key.curve, ec.SECP256R1)
    ):
        return "must be a P-256 (prime256v1) EC private key for ES256"
    if algorithm == "RS256":
        if not isinstance(private_key, rsa.RSAPrivateKey):
            return "must be an RSA private key for RS256"
        if private_key.key_size < MIN_RSA_BITS:
            return f"must be an RSA key of at least {MIN_RSA_BITS} bits"
    return None


def load_private_key(path: Path, algorithm: str) -> Key:
    """Read a PEM private key and bind it to `algorithm`; SettingsError if it does not fit."""
    try:
        private_key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise SettingsError(
            f"PRIVATE_KEY_PATH {path} does not exist; create a key with "
            "`python -m {{ cookiecutter.package_name }} keys generate`"
        ) from None
    except (ValueError, TypeError) as exc:
        raise SettingsError(
            f"PRIVATE_KEY_PATH {path} is not a readable PEM private key: {exc}"
        ) from None
    problem = _check_key_type(algorithm, private_key)
    if problem:
        raise SettingsError(f"PRIVATE_KEY_PATH {path} {problem}")
    public_key = private_key.public_key()
    jwk, members = _public_jwk(algorithm, public_key)
    kid = _thumbprint(jwk, members)
    jwk |= {"kid": kid, "alg": algorithm, "use": "sig"}
    return Key(kid, algorithm, private_key, public_key, jwk)


def hmac_key(secret: bytes) -> Key:
    """The HS256 key. Its kid is a hash of the secret, which reveals nothing usable about it."""
    kid = _b64url(hashlib.sha256(b"kid:" + secret).digest()[:12])
    return Key(kid, "HS256", secret, secret, None)


def load_keys(settings: Settings) -> KeySet:
    """The key set the settings describe."""
    if settings.jwt_algorithm == "HS256":
        assert settings.secret_key is not None  # guaranteed by Settings validation
        current = hmac_key(settings.secret_key.get_secret_value().encode())
    else:
        assert settings.private_key_path is not None  # guaranteed by Settings validation
        current = load_private_key(settings.private_key_path, settings.jwt_algorithm)
    return KeySet(current=current, by_kid={current.kid: current})
