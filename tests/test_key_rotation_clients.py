"""A staged key rotation, seen by resource servers that cache the JWK Set.

For every key-pair algorithm a bake is served with two worker processes, as in production.
A resource server configured with the discovery URL alone (RFC 8414: issuer, metadata,
`jwks_uri`) builds PyJWT's `PyJWKClient` and a joserfc key set before the rotation. The bake's
own `keys rotate` command then runs while the server keeps serving; no worker is restarted.
Every token issued from then on, by a worker that took the rotation up or one that had not
yet, must verify with those same, already cached, key sets: the key that starts signing was
published as the next key before they were fetched. PyJWKClient never needs to fetch again.
"""

import os
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from joserfc import jwt as jose_jwt
from joserfc.errors import SecurityWarning
from joserfc.jwk import KeySet

from harness import bakery, served

pytestmark = pytest.mark.slow

KEY_PAIR_ALGORITHMS = ("EdDSA", "ES256", "RS256")
DISCOVERY = "/.well-known/oauth-authorization-server"
# Workers check their key files every second here; verifiers may cache the JWKS 5 seconds.
SERVER_SETTINGS = {"KEY_RELOAD_SECONDS": "1", "JWKS_MAX_AGE_SECONDS": "5"}
# How long every worker may take to sign with the promoted key: many reload intervals, for a
# loaded machine.
TAKE_UP_SECONDS = 20
# Tokens in a row, each from a new connection, that must carry the new kid: with two workers,
# the chance that one worker answered them all while the other still signs with the old key
# is 1 in 2**7.
CONSECUTIVE_NEW = 8


@dataclass(frozen=True)
class Served:
    project: Path
    package: str
    url: str
    env: dict[str, str]


class CountingJWKClient(jwt.PyJWKClient):
    """PyJWT's JWKS client, unchanged, counting how often it fetches the JWK Set."""

    def __init__(self, uri: str) -> None:
        super().__init__(uri, timeout=30)
        self.fetches = 0

    def fetch_data(self) -> Any:
        self.fetches += 1
        return super().fetch_data()


@contextmanager
def serve_two_workers(directory: Path, algorithm: str) -> Iterator[Served]:
    project = bakery.bake(directory, jwt_algorithm=algorithm)
    package = served.package_of(project)
    served.run_cli(project, package, "migrate")
    served.create_users(project, {served.USERNAME: served.PASSWORD})
    port = served.free_loopback_port()
    url = f"http://{served.LOOPBACK}:{port}"
    env = {"JWT_ISSUER": url, **SERVER_SETTINGS}
    with served.serving(project, directory / "server.log", workers=2, port=port, **env):
        yield Served(project, package, url, env)


def login(server: Served) -> str:
    """An access token, from a new connection (so either worker may answer)."""
    form = {"grant_type": "password", "username": served.USERNAME, "password": served.PASSWORD}
    response = httpx.post(f"{server.url}/auth/login", data=form, timeout=30)
    response.raise_for_status()
    return str(response.json()["access_token"])


def kid_of(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


def verify_with_pyjwt(
    client: jwt.PyJWKClient, token: str, metadata: dict[str, Any], audience: str
) -> None:
    signing_key = client.get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token,
        signing_key,
        algorithms=[signing_key.algorithm_name],
        issuer=metadata["issuer"],
        audience=audience,
    )
    assert claims["type"] == "access"


def verify_with_joserfc(
    key_set: KeySet, algorithm: str, token: str, metadata: dict[str, Any], audience: str
) -> None:
    with warnings.catch_warnings():
        # joserfc flags `EdDSA` as superseded by RFC 9864's `Ed25519`; same key, same signature.
        warnings.simplefilter("ignore", SecurityWarning)
        decoded = jose_jwt.decode(token, key_set, algorithms=[algorithm])
    jose_jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": metadata["issuer"]},
        aud={"essential": True, "value": audience},
        exp={"essential": True},
    ).validate(decoded.claims)


@pytest.mark.parametrize("algorithm", KEY_PAIR_ALGORITHMS)
def test_cached_jwks_verifies_every_token_across_a_staged_rotation(
    tmp_path: Path, algorithm: str
) -> None:
    with serve_two_workers(tmp_path, algorithm) as server:
        # The resource server knows the issuer's URL only.
        metadata = httpx.get(server.url + DISCOVERY, timeout=10).json()
        assert metadata["issuer"] == server.url
        pyjwt_client = CountingJWKClient(metadata["jwks_uri"])
        jwks_before = httpx.get(metadata["jwks_uri"], timeout=10).json()
        joserfc_keys = KeySet.import_key_set(jwks_before)

        def verify(token: str) -> None:
            verify_with_pyjwt(pyjwt_client, token, metadata, server.package)
            verify_with_joserfc(joserfc_keys, algorithm, token, metadata, server.package)

        before = login(server)
        old_kid = kid_of(before)
        verify(before)
        published = {key["kid"] for key in jwks_before["keys"]}
        [next_kid] = published - {old_kid}

        # The operator's rotation, on a next key published long enough (aged, not waited for).
        next_key = server.project / "keys" / "next.pem"
        long_ago = time.time() - 60
        os.utime(next_key, (long_ago, long_ago))
        served.run_cli(server.project, server.package, "keys", "rotate", env=server.env)

        issued_after: list[str] = []
        deadline = time.monotonic() + TAKE_UP_SECONDS
        while time.monotonic() < deadline:
            token = login(server)
            issued_after.append(token)
            # Verified at once, with the key sets fetched before the rotation.
            verify(token)
            recent = issued_after[-CONSECUTIVE_NEW:]
            if len(recent) == CONSECUTIVE_NEW and {kid_of(t) for t in recent} == {next_kid}:
                break
            time.sleep(0.1)
        else:
            kids = [kid_of(token) for token in issued_after]
            pytest.fail(f"workers did not all sign with {next_kid} in {TAKE_UP_SECONDS}s: {kids}")

        assert {kid_of(token) for token in issued_after} <= {old_kid, next_kid}
        # A token signed before the rotation keeps verifying: its key is retired, not gone.
        verify(before)
        assert pyjwt_client.fetches == 1
        jwks_after = httpx.get(metadata["jwks_uri"], timeout=10).json()
        kids_after = {key["kid"] for key in jwks_after["keys"]}
        assert {old_kid, next_kid} < kids_after
        assert len(kids_after) == 3
