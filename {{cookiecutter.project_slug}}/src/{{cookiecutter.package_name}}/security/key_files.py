"""Create and rotate the key files that `keys.py` loads: the `keys` commands of the CLI.

Only the current signing key is private. Rotation keeps just the public half of the retired
key: verification needs nothing more, and a key that can no longer sign cannot be stolen to
forge tokens either.
"""

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from ..config import SettingsError
from .keys import load_private_key, previous_keys_dir, verify_only_key

# 128-bit security (NIST SP 800-57 part 1), the same size the project's hook generates.
RSA_BITS = 3072


@dataclass(frozen=True, slots=True)
class Rotation:
    """What `rotate` did: the key now signing, the key retired, the expired keys removed."""

    new_kid: str
    retired_kid: str
    pruned: list[Path]


def generate_private_key(algorithm: str) -> bytes:
    """A new private key for `algorithm` as unencrypted PKCS#8 PEM; ValueError for HS256."""
    private_key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    if algorithm == "EdDSA":
        private_key = ed25519.Ed25519PrivateKey.generate()
    elif algorithm == "ES256":
        private_key = ec.generate_private_key(ec.SECP256R1())
    elif algorithm == "RS256":
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    else:
        raise ValueError(f"{algorithm} has no key pair: it signs with SECRET_KEY")
    return private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def write_key_file(path: Path, data: bytes, *, overwrite: bool = False) -> None:
    """Write `data` to `path`, readable by its owner only from the first byte.

    A new directory is made owner-only too. Without `overwrite` an existing file (or symlink)
    is never touched (FileExistsError); with it, the new file is written aside and renamed
    over the old one, so neither a crash nor a starting app ever sees half a key.
    """
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True)
    if not overwrite:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        return
    # mkstemp creates the file with mode 0600.
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def rotate(private_key_path: Path, algorithm: str, *, keep_seconds: int) -> Rotation:
    """Retire the key at `private_key_path` and write a new one for `algorithm` in its place.

    The retired key's public half goes to the previous-keys directory as `<kid>.pem`, so
    tokens it signed keep verifying. Retired keys older than `keep_seconds` (the longest a
    token they signed can live) are deleted: nothing they signed can still be valid.
    """
    new_pem = generate_private_key(algorithm)
    try:
        pem = private_key_path.read_bytes()
        private_key = serialization.load_pem_private_key(pem, password=None)
    except FileNotFoundError:
        raise SettingsError(
            f"PRIVATE_KEY_PATH {private_key_path} does not exist: there is no key to rotate; "
            "create one with `keys generate`"
        ) from None
    except (ValueError, TypeError) as exc:
        raise SettingsError(
            f"PRIVATE_KEY_PATH {private_key_path} is not a readable PEM private key: {exc}"
        ) from None
    public_key = private_key.public_key()
    retired = verify_only_key(public_key, f"PRIVATE_KEY_PATH {private_key_path}")
    previous_dir = previous_keys_dir(private_key_path)
    pruned = _prune(previous_dir, time.time() - keep_seconds)
    public_pem = public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # Written before the new key replaces the old one: a crash in between loses nothing.
    write_key_file(previous_dir / f"{retired.kid}.pem", public_pem, overwrite=True)
    write_key_file(private_key_path, new_pem, overwrite=True)
    new_kid = load_private_key(private_key_path, algorithm).kid
    return Rotation(new_kid=new_kid, retired_kid=retired.kid, pruned=pruned)


def _prune(previous_dir: Path, retired_before: float) -> list[Path]:
    """Delete retired keys whose file (written at retirement) is older than `retired_before`."""
    if not previous_dir.is_dir():
        return []
    expired = [p for p in sorted(previous_dir.glob("*.pem")) if p.stat().st_mtime < retired_before]
    for path in expired:
        path.unlink()
    return expired
