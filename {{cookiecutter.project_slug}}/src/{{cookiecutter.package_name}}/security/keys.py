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
    """One key: what signs (None for retired, verify-only keys) and what verifies, under one
    algorithm."""

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


def key_type_problem(algorithm: str, private_key: Any) -> str | None:
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


def previous_keys_dir(private_key_path: Path) -> Path:
    """Where `keys rotate` keeps the public halves of retired signing keys."""
    return private_key_path.parent / "previous"


def next_key_path(private_key_path: Path) -> Path:
    """Where the staged next signing key waits: published in the JWKS, never signing, until
    `keys rotate` promotes it (key_files.py says why)."""
    return private_key_path.parent / "next.pem"


def _algorithm_of(public_key: Any) -> str | None:
    """The one algorithm a public key is used with, or None for a key type we do not accept."""
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return "EdDSA"
    if isinstance(public_key, ec.EllipticCurvePublicKey) and isinstance(
        public_key.curve, ec.SECP256R1
    ):
        return "ES256"
    if isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size >= MIN_RSA_BITS:
        return "RS256"
    return None


def _asymmetric_key(algorithm: str, signing_key: Any, public_key: Any) -> Key:
    full_jwk, members = _public_jwk(algorithm, public_key)
    # Only the key members, plus what a verifier needs to pick and use it: PyJWT adds
    # `key_ops`, which RFC 7517 section 4.3 says not to combine with `use`.
    jwk = {name: full_jwk[name] for name in members}
    kid = _thumbprint(jwk, members)
    jwk |= {"kid": kid, "alg": algorithm, "use": "sig"}
    return Key(kid, algorithm, signing_key, public_key, jwk)


def _spki(public_key: Any) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


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
    problem = key_type_problem(algorithm, private_key)
    if problem:
        raise SettingsError(f"PRIVATE_KEY_PATH {path} {problem}")
    return _asymmetric_key(algorithm, private_key, private_key.public_key())


def check_public_key(path: Path, key: Key) -> None:
    """SettingsError unless the PEM public key at `path` is the public half of `key`.

    A published public key that does not match the signing key would make every token fail
    verification elsewhere, so a mismatch stops the app instead.
    """
    try:
        public_key = serialization.load_pem_public_key(path.read_bytes())
    except FileNotFoundError:
        raise SettingsError(f"PUBLIC_KEY_PATH {path} does not exist") from None
    except (ValueError, TypeError) as exc:
        raise SettingsError(
            f"PUBLIC_KEY_PATH {path} is not a readable PEM public key: {exc}"
        ) from None
    if _spki(public_key) != _spki(key.verifying_key):
        raise SettingsError(
            f"PUBLIC_KEY_PATH {path} does not match the private key in PRIVATE_KEY_PATH"
        )


def verify_only_key(public_key: Any, source: str) -> Key:
    """A retired key, verify-only, bound to the algorithm its type implies.

    Binding by key type (not by today's JWT_ALGORITHM) lets `keys rotate` also switch
    algorithms: tokens signed before the switch keep verifying under their own algorithm.
    """
    algorithm = _algorithm_of(public_key)
    if algorithm is None:
        raise SettingsError(
            f"{source} is not an Ed25519, P-256 or RSA (at least {MIN_RSA_BITS} bits) key"
        )
    return _asymmetric_key(algorithm, None, public_key)


def load_previous_key(path: Path) -> Key:
    """A retired key kept by `keys rotate` in the previous-keys directory."""
    source = f"{path} (a previous key of PRIVATE_KEY_PATH)"
    try:
        public_key = serialization.load_pem_public_key(path.read_bytes())
    except (ValueError, TypeError) as exc:
        raise SettingsError(f"{source} is not a readable PEM public key: {exc}") from None
    return verify_only_key(public_key, source)


def load_next_key(path: Path) -> Key | None:
    """The staged next key, verify-only, or None when there is none (a bake made before keys
    were staged).

    Only its public half is kept: nothing signs with it until `keys rotate` makes it the key
    at PRIVATE_KEY_PATH. Like a retired key it is bound by its type, so a next key staged for
    another JWT_ALGORITHM is published ahead of the switch too.
    """
    source = f"{path} (the next key of PRIVATE_KEY_PATH)"
    try:
        private_key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        return None
    except (ValueError, TypeError) as exc:
        raise SettingsError(f"{source} is not a readable PEM private key: {exc}") from None
    return verify_only_key(private_key.public_key(), source)


def hmac_key(secret: bytes) -> Key:
    """The HS256 key. Its kid is a hash of the secret, which reveals nothing usable about it."""
    kid = _b64url(hashlib.sha256(b"kid:" + secret).digest()[:12])
    return Key(kid, "HS256", secret, secret, None)


def load_keys(settings: Settings) -> KeySet:
    """The key set the settings describe: the signing key, the staged next key and every
    retired key still kept. Only the signing key signs; the others only verify."""
    if settings.jwt_algorithm == "HS256":
        assert settings.secret_key is not None  # guaranteed by Settings validation
        current = hmac_key(settings.secret_key.get_secret_value().encode())
        return KeySet(current=current, by_kid={current.kid: current})
    assert settings.private_key_path is not None  # guaranteed by Settings validation
    current = load_private_key(settings.private_key_path, settings.jwt_algorithm)
    if settings.public_key_path is not None:
        check_public_key(settings.public_key_path, current)
    previous_dir = previous_keys_dir(settings.private_key_path)
    verify_only = [load_previous_key(path) for path in sorted(previous_dir.glob("*.pem"))]
    if (staged := load_next_key(next_key_path(settings.private_key_path))) is not None:
        verify_only.append(staged)
    # The current key wins a kid clash: it is the one that must also sign.
    by_kid = {key.kid: key for key in verify_only} | {current.kid: current}
    return KeySet(current=current, by_kid=by_kid)
