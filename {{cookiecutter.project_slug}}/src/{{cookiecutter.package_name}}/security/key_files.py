"""Create, stage and rotate the key files that `keys.py` loads: the `keys` commands of the CLI.

A key-pair project keeps three kinds of key file beside PRIVATE_KEY_PATH:

- `private.pem`, the signing key;
- `next.pem`, the staged next key: private (it will sign one day), but until then only
  published in the JWKS, never used to sign;
- `previous/<kid>.pem`, the public halves of retired keys, kept while tokens they signed can
  still be valid.

Rotation is staged so that no verifier ever meets a token signed by a key it has not seen. A
next key is in every worker's JWKS within KEY_RELOAD_SECONDS of being written, and in every
verifier's cached copy of the JWKS at most JWKS_MAX_AGE_SECONDS later; only then does `rotate`
let it sign. A worker that takes up the rotation late still verifies the tokens of one that
took it up early (the promoted key was its next key), and keeps signing with the old key for
at most KEY_RELOAD_SECONDS, whose tokens verify everywhere because the old key stays published
as a retired one.

Only the keys that sign or will sign are private. A retired key keeps just its public half:
verification needs nothing more, and a key that can no longer sign cannot be stolen to forge
tokens either. Every file is written aside and renamed into place, mode 0600, so neither a
crash nor a worker reloading its keys ever sees half a key.
"""

import math
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from ..config import SettingsError
from .keys import (
    Key,
    key_type_problem,
    load_private_key,
    next_key_path,
    previous_keys_dir,
    verify_only_key,
)

# 128-bit security (NIST SP 800-57 part 1), the same size the project's hook generates.
RSA_BITS = 3072


@dataclass(frozen=True, slots=True)
class Rotation:
    """What `rotate` did: the key now signing (the former next key), the key retired, the key
    staged to come next, and the expired retired keys removed."""

    new_kid: str
    retired_kid: str
    next_kid: str
    pruned: list[Path]


@dataclass(frozen=True, slots=True)
class Staged:
    """What `rotate` did instead of rotating, when there was no next key fit to sign: it
    staged one, which may sign once it has been published for `wait_seconds`."""

    next_kid: str
    reason: str
    wait_seconds: int


class NextKeyTooNewError(Exception):
    """The next key has not been published long enough for every verifier to hold it."""

    def __init__(self, next_kid: str, remaining_seconds: int) -> None:
        super().__init__(next_kid, remaining_seconds)
        self.next_kid = next_kid
        self.remaining_seconds = remaining_seconds


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
    # mkstemp creates the file with mode 0600; its name (".*.tmp") matches no key file.
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _public_key_of(pem: bytes) -> Any:
    return serialization.load_pem_private_key(pem, password=None).public_key()


def stage_next_key(private_key_path: Path, algorithm: str) -> str:
    """Write a new next key for `algorithm` beside `private_key_path`, replacing any staged
    one; return its kid. It starts signing only when `rotate` promotes it."""
    pem = generate_private_key(algorithm)
    path = next_key_path(private_key_path)
    kid = verify_only_key(_public_key_of(pem), str(path)).kid
    write_key_file(path, pem, overwrite=True)
    return kid


def _fitting_next_key(path: Path, algorithm: str) -> tuple[Key | None, str]:
    """The staged key at `path` if it can sign under `algorithm`, else None and why not."""
    try:
        private_key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        return None, f"there was no next key at {path}"
    except (ValueError, TypeError):
        return None, f"the next key at {path} was not a readable PEM private key"
    if problem := key_type_problem(algorithm, private_key):
        return None, f"the next key at {path} did not fit: it {problem}"
    return verify_only_key(private_key.public_key(), str(path)), ""


def rotate(
    private_key_path: Path,
    algorithm: str,
    *,
    stage_seconds: int,
    keep_seconds: int,
    now: bool = False,
) -> Rotation | Staged:
    """Promote the staged next key to sign, retire the signing key, stage a new next key.

    The next key must have been staged (published) for `stage_seconds`, judged by its file's
    modification time, else NextKeyTooNewError says how long is left; `now` skips the wait,
    for when no verifier outside this service caches the JWKS. Without a next key fit for
    `algorithm` (a project made before keys were staged, or one switching algorithms), one is
    staged and returned as `Staged`: run `rotate` again once it has waited (with `now`, it is
    promoted at once).

    The retired key's public half goes to the previous-keys directory as `<kid>.pem` first, so
    tokens it signed keep verifying whatever happens next. Retired keys older than
    `keep_seconds` (the longest a token they signed can live, plus the time a worker may still
    sign with a key after it was retired) are deleted: nothing they signed can still be valid.
    """
    try:
        retired_public_key = _public_key_of(private_key_path.read_bytes())
    except FileNotFoundError:
        raise SettingsError(
            f"PRIVATE_KEY_PATH {private_key_path} does not exist: there is no key to rotate; "
            "create one with `keys generate`"
        ) from None
    except (ValueError, TypeError) as exc:
        raise SettingsError(
            f"PRIVATE_KEY_PATH {private_key_path} is not a readable PEM private key: {exc}"
        ) from None
    retired = verify_only_key(retired_public_key, f"PRIVATE_KEY_PATH {private_key_path}")
    next_path = next_key_path(private_key_path)
    staged, reason = _fitting_next_key(next_path, algorithm)
    if staged is None:
        next_kid = stage_next_key(private_key_path, algorithm)
        if not now:
            return Staged(next_kid=next_kid, reason=reason, wait_seconds=stage_seconds)
    elif not now:
        published_for = time.time() - next_path.stat().st_mtime
        if published_for < stage_seconds:
            remaining = max(1, math.ceil(stage_seconds - published_for))
            raise NextKeyTooNewError(staged.kid, remaining)

    previous_dir = previous_keys_dir(private_key_path)
    pruned = _prune(previous_dir, time.time() - keep_seconds)
    public_pem = retired_public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # Each step leaves a working key set if the next one never happens: the retired key is
    # published before it stops signing, and a missing next key is allowed.
    write_key_file(previous_dir / f"{retired.kid}.pem", public_pem, overwrite=True)
    os.replace(next_path, private_key_path)
    new_kid = load_private_key(private_key_path, algorithm).kid
    next_kid = stage_next_key(private_key_path, algorithm)
    return Rotation(new_kid=new_kid, retired_kid=retired.kid, next_kid=next_kid, pruned=pruned)


def _prune(previous_dir: Path, retired_before: float) -> list[Path]:
    """Delete retired keys whose file (written at retirement) is older than `retired_before`."""
    if not previous_dir.is_dir():
        return []
    expired = [p for p in sorted(previous_dir.glob("*.pem")) if p.stat().st_mtime < retired_before]
    for path in expired:
        path.unlink()
    return expired
