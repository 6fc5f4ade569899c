"""Finish a freshly rendered project: its own secrets, only the chosen options' files, next steps.

Cookiecutter runs this file, rendered with Jinja, from inside the new project directory. The
secrets made here are written straight to git-ignored files and never pass through a
cookiecutter variable, so they cannot reach the replay file or a cruft answers file.
"""

import base64
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path

ENV_EXAMPLE = Path(".env.example")
ENV_FILE = Path(".env")
PRIVATE_KEY = Path("keys/private.pem")
# The staged next key: published in the JWKS from the first start, it signs only after
# `keys rotate` promotes it, when every verifier has long had it.
NEXT_KEY = Path("keys/next.pem")

SECRET_KEY_LINE = re.compile(r"^SECRET_KEY=.*$", re.MULTILINE)

# Files that exist for one option value only, removed unless the answer equals that value.
# Paths are relative to the project root; {package} is the package name.
OPTION_FILES: dict[tuple[str, object], tuple[str, ...]] = {
    # Each database is made unreachable its own way: the SQLite file moved away, or a
    # PostgreSQL URL whose port refuses connections.
    ("database", "sqlite"): (
        "src/{package}/db/sqlite.py",
        "tests/database_sqlite.py",
        "tests/test_database_files.py",
        "tests/test_faults.py",
    ),
    ("database", "postgresql"): (
        "src/{package}/db/postgresql.py",
        "tests/database_postgresql.py",
        "tests/postgres_db.py",
        "tests/test_faults_postgres.py",
    ),
    # Redis holds the sessions and throttling itself: no auth_sessions, revocations or throttle
    # tables, models, migration or database store.
    ("token_store", "database"): (
        "src/{package}/auth/stores/database.py",
        "src/{package}/auth/stores/database_tables.py",
        "src/{package}/security/database_throttle.py",
        "src/{package}/migrations/versions/0002_database_store.py",
        "tests/store_database.py",
        "tests/test_database_store.py",
    ),
    ("token_store", "redis"): (
        "src/{package}/auth/stores/redis.py",
        "src/{package}/security/redis_throttle.py",
        "tests/store_redis.py",
        "tests/test_redis_store.py",
    ),
    ("use_middleware", True): (
        "src/{package}/auth/middleware.py",
        "tests/test_middleware.py",
    ),
    # One way for tokens to travel: cookies (which also take bearer headers), or bearer only.
    ("cookie_auth", True): (
        "src/{package}/auth/transport/cookies.py",
        "tests/test_cookies.py",
        "tests/test_websocket_cookies.py",
    ),
    ("cookie_auth", False): ("src/{package}/auth/transport/bearer.py",),
    ("allow_registration", True): (
        "src/{package}/auth/registration/__init__.py",
        "src/{package}/auth/registration/exceptions.py",
        "src/{package}/auth/registration/router.py",
        "src/{package}/auth/registration/schemas.py",
        "src/{package}/auth/registration/service.py",
        "tests/test_registration.py",
    ),
}

# Fixed DER prefix of a PKCS#8 Ed25519 private key (RFC 8410): the 32-byte seed follows it.
ED25519_PKCS8_PREFIX = bytes.fromhex("302e020100300506032b657004220420")

# SEC1 ECPrivateKey (RFC 5915) around a 32-byte P-256 scalar: SEQUENCE, version 1, then the
# OCTET STRING header; after the scalar, [0] with the prime256v1 OID. The public key is left
# out: any loader derives it from the scalar.
P256_SEC1_PREFIX = bytes.fromhex("30310201010420")
P256_SEC1_SUFFIX = bytes.fromhex("a00a06082a8648ce3d030107")
P256_ORDER = int("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551", 16)

RSA_KEYGEN = ("openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072")


def read_answers() -> dict[str, object]:
    """Return the answers this hook needs, decoded from JSON.

    Jinja writes each answer as JSON into a raw string, so quotes or backslashes in a value
    stay data and can never become Python code. The spaces inside the quotes matter: a JSON
    string ends in a double quote, which would otherwise merge with the closing triple quote.
    """
    return {
        "project_slug": json.loads(r""" {{ cookiecutter.project_slug | tojson }} """),
        "package_name": json.loads(r""" {{ cookiecutter.package_name | tojson }} """),
        "jwt_algorithm": json.loads(r""" {{ cookiecutter.jwt_algorithm | tojson }} """),
        "database": json.loads(r""" {{ cookiecutter.database | tojson }} """),
        "token_store": json.loads(r""" {{ cookiecutter.token_store | tojson }} """),
        "use_middleware": json.loads(r""" {{ cookiecutter.use_middleware | tojson }} """),
        "cookie_auth": json.loads(r""" {{ cookiecutter.cookie_auth | tojson }} """),
        "allow_registration": json.loads(r""" {{ cookiecutter.allow_registration | tojson }} """),
    }


def write_private_file(path: Path, data: bytes) -> None:
    """Create `path` readable by its owner only, refusing to overwrite anything.

    The mode is set at creation (O_EXCL), so there is no moment when another local user could
    open the file, and an existing file or symlink is never followed or clobbered.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(data)


def env_with_secret(example: str, secret: str) -> str:
    """Return .env.example's text with the SECRET_KEY placeholder replaced by `secret`."""
    # A function replacement, so nothing in the secret is read as a backreference.
    text, count = SECRET_KEY_LINE.subn(lambda _: f"SECRET_KEY={secret}", example)
    if count != 1:
        raise SystemExit(f"ERROR: {ENV_EXAMPLE} must contain exactly one SECRET_KEY= line")
    return text


def write_env_file() -> None:
    """Write .env from .env.example with a fresh 384-bit SECRET_KEY."""
    if ENV_FILE.exists():
        raise SystemExit(f"ERROR: {ENV_FILE} already exists; refusing to overwrite its secrets")
    # read_text turns any CRLF into LF, and the bytes are written untranslated: LF endings.
    example = ENV_EXAMPLE.read_text(encoding="utf-8")
    env = env_with_secret(example, secrets.token_urlsafe(48))
    write_private_file(ENV_FILE, env.encode("utf-8"))


def pem(label: str, der: bytes) -> bytes:
    """Wrap DER bytes in PEM armour with the 64-column lines RFC 7468 asks for."""
    body = "\n".join(textwrap.wrap(base64.b64encode(der).decode("ascii"), 64))
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n".encode("ascii")


def ed25519_private_key() -> bytes:
    """Return a new Ed25519 private key as PKCS#8 PEM: any 32 random bytes are a valid seed."""
    return pem("PRIVATE KEY", ED25519_PKCS8_PREFIX + os.urandom(32))


def p256_private_key() -> bytes:
    """Return a new P-256 private key as SEC1 PEM, with its scalar uniform in [1, n-1]."""
    scalar = 1 + secrets.randbelow(P256_ORDER - 1)
    der = P256_SEC1_PREFIX + scalar.to_bytes(32, "big") + P256_SEC1_SUFFIX
    return pem("EC PRIVATE KEY", der)


def rsa_private_key() -> bytes | None:
    """Return a new RSA-3072 key as PKCS#8 PEM from openssl, or None without openssl.

    RSA key generation needs big-prime arithmetic that the standard library lacks.
    """
    if shutil.which(RSA_KEYGEN[0]) is None:
        return None
    return subprocess.run(RSA_KEYGEN, check=True, capture_output=True).stdout


# HS256 is absent on purpose: it signs with SECRET_KEY from .env.
KEY_GENERATORS: dict[str, Callable[[], bytes | None]] = {
    "EdDSA": ed25519_private_key,
    "ES256": p256_private_key,
    "RS256": rsa_private_key,
}


def write_signing_key(algorithm: str, package_name: str) -> None:
    """Write keys/private.pem and the staged next key keys/next.pem when the algorithm signs
    with a private key."""
    if algorithm not in KEY_GENERATORS:
        return
    generate = KEY_GENERATORS[algorithm]
    signing, staged = generate(), generate()
    if signing is None or staged is None:
        print(
            f"WARNING: openssl was not found, so no RSA key was generated. After installing, "
            f"run `python -m {package_name} keys generate`; the app refuses to start until "
            f"{PRIVATE_KEY} exists.",
            file=sys.stderr,
        )
        return
    PRIVATE_KEY.parent.mkdir(mode=0o700, exist_ok=True)
    # mkdir's mode is filtered by the umask and ignored for an existing directory.
    PRIVATE_KEY.parent.chmod(0o700)
    write_private_file(PRIVATE_KEY, signing)
    write_private_file(NEXT_KEY, staged)


def disabled_option_files(answers: Mapping[str, object]) -> list[Path]:
    """List the files of every option the user did not choose."""
    return [
        Path(path.format(package=answers["package_name"]))
        for (field, enabled_value), paths in OPTION_FILES.items()
        if answers[field] != enabled_value
        for path in paths
    ]


def remove_files(paths: list[Path]) -> None:
    """Delete `paths`, then any directory the deletions left empty, up to the project root."""
    for path in paths:
        # A missing file is tolerated while the template is still growing the option files.
        if not path.exists():
            continue
        path.unlink()
        parent = path.parent
        while parent != Path() and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent


def next_steps(project_slug: str, package_name: str) -> str:
    """Return what to type to get from a fresh bake to a running, tested service."""
    return textwrap.dedent(
        f"""
        Created {project_slug}; its .env holds a fresh secret and is git-ignored. Next steps:

            cd {project_slug}
            python3 -m venv .venv && . .venv/bin/activate
            pip install -e '.[dev]'
            python -m {package_name} migrate
            python -m {package_name} create-user admin --role admin
            python -m {package_name} serve
            pytest
        """
    )


def main() -> int:
    """Write the project's secrets, drop unchosen options' files, and say what comes next."""
    answers = read_answers()
    package_name = str(answers["package_name"])
    write_env_file()
    write_signing_key(str(answers["jwt_algorithm"]), package_name)
    remove_files(disabled_option_files(answers))
    print(next_steps(str(answers["project_slug"]), package_name))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
