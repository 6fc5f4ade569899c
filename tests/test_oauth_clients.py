"""Standard OAuth2 and JOSE client libraries, unmodified, against a served bake.

What users will run is what is tested: authlib's httpx `OAuth2Client` and requests-oauthlib's
`OAuth2Session` with `LegacyApplicationClient` log in with the password grant, refresh with
the refresh grant (RFC 6749 section 6), parse refusals (section 5.2) and revoke (RFC 7009);
a resource server that knows only the discovery URL (RFC 8414) finds the JWK Set and verifies
access tokens with PyJWT's `PyJWKClient` and with joserfc, for every key-pair algorithm.

Each bake is served with JWT_ISSUER set to its own base URL, as in production, so the
discovery document's `issuer` is the tokens' `iss`.
"""

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
from authlib.integrations.httpx_client import OAuth2Client, OAuthError
from joserfc import jwt as jose_jwt
from joserfc.errors import SecurityWarning
from joserfc.jwk import KeySet
from oauthlib.oauth2 import InvalidGrantError, LegacyApplicationClient
from requests_oauthlib import OAuth2Session

from harness import bakery, served

pytestmark = pytest.mark.slow

CLIENT_ID = "oauth-client-test"
KEY_PAIR_ALGORITHMS = ("EdDSA", "ES256", "RS256")
DISCOVERY = "/.well-known/oauth-authorization-server"


@dataclass(frozen=True)
class Server:
    url: str
    package: str

    def metadata(self) -> dict[str, Any]:
        """The discovery document: the one URL a client is configured with."""
        response = httpx.get(self.url + DISCOVERY, timeout=10)
        response.raise_for_status()
        metadata: dict[str, Any] = response.json()
        return metadata


@contextmanager
def serve_bake(directory: Path, **answers: object) -> Iterator[Server]:
    """Bake, migrate, add the user, serve with JWT_ISSUER = the base URL and one-minute
    access tokens."""
    project = bakery.bake(directory, **answers)
    package = served.package_of(project)
    served.run_cli(project, package, "migrate")
    served.create_users(project, {served.USERNAME: served.PASSWORD})
    port = served.free_loopback_port()
    url = f"http://{served.LOOPBACK}:{port}"
    settings = {"JWT_ISSUER": url, "ACCESS_TOKEN_MINUTES": "1"}
    with served.serving(project, directory / "server.log", port=port, **settings):
        yield Server(url, package)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve_bake(tmp_path_factory.mktemp("oauth-clients")) as running:
        yield running


@pytest.fixture(scope="module", params=KEY_PAIR_ALGORITHMS)
def key_pair_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp(f"jwks-{request.param}")
    with serve_bake(directory, jwt_algorithm=request.param) as running:
        yield running


def authlib_client(server: Server, **options: Any) -> OAuth2Client:
    """A public client (no secret) configured from the discovery document alone."""
    metadata = server.metadata()
    return OAuth2Client(
        client_id=CLIENT_ID,
        token_endpoint_auth_method="none",
        token_endpoint=metadata["token_endpoint"],
        **options,
    )


def me(client: httpx.Client | OAuth2Session, server: Server) -> str:
    response = client.get(f"{server.url}/users/me")
    assert response.status_code == 200, response.text
    return str(response.json()["username"])


# --- authlib ----------------------------------------------------------------------------------


def test_authlib_password_grant_and_refresh_grant(server: Server) -> None:
    with authlib_client(server) as client:
        token = client.fetch_token(username=served.USERNAME, password=served.PASSWORD)
        assert token["token_type"] == "bearer"
        assert token["expires_in"] == 60
        assert me(client, server) == served.USERNAME
        refreshed = client.refresh_token(client.metadata["token_endpoint"])
        assert refreshed["refresh_token"] != token["refresh_token"]
        assert me(client, server) == served.USERNAME


def test_authlib_refreshes_an_expired_token_on_its_own(server: Server) -> None:
    updates: list[dict[str, Any]] = []

    def update_token(token: dict[str, Any], refresh_token: str | None = None, **_: Any) -> None:
        updates.append({"token": token, "old_refresh_token": refresh_token})

    with authlib_client(server, update_token=update_token) as client:
        first = client.fetch_token(username=served.USERNAME, password=served.PASSWORD)
        # The clock moved past expiry, as a client sees it: authlib refreshes before the call.
        client.token["expires_at"] = int(time.time()) - 1
        assert me(client, server) == served.USERNAME
        [update] = updates
        assert update["old_refresh_token"] == first["refresh_token"]
        assert client.token["access_token"] != first["access_token"]
        assert client.token["expires_at"] > time.time()


def test_authlib_revokes_and_the_session_ends(server: Server) -> None:
    metadata = server.metadata()
    with authlib_client(server) as client:
        token = client.fetch_token(username=served.USERNAME, password=served.PASSWORD)
        response = client.revoke_token(
            metadata["revocation_endpoint"],
            token=token["refresh_token"],
            token_type_hint="refresh_token",
        )
        assert response.status_code == 200
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    assert httpx.get(f"{server.url}/users/me", headers=bearer).status_code == 401


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"username": served.USERNAME, "password": "not the password"}, "invalid_grant"),
        ({"username": "nobody@example.com", "password": served.PASSWORD}, "invalid_grant"),
        ({"grant_type": "client_credentials"}, "unsupported_grant_type"),
        (
            {"username": served.USERNAME, "password": served.PASSWORD, "scope": "admin"},
            "invalid_scope",
        ),
    ],
    ids=["wrong-password", "unknown-user", "client-credentials", "scope"],
)
def test_authlib_raises_the_servers_error_code(
    server: Server, form: dict[str, str], error: str
) -> None:
    with authlib_client(server) as client, pytest.raises(OAuthError) as raised:
        client.fetch_token(**form)
    assert raised.value.error == error
    assert client.token is None


def test_authlib_refresh_with_a_spent_token_is_an_invalid_grant(server: Server) -> None:
    with authlib_client(server) as client:
        token = client.fetch_token(username=served.USERNAME, password=served.PASSWORD)
        client.refresh_token(client.metadata["token_endpoint"])
        with pytest.raises(OAuthError) as raised:
            client.refresh_token(
                client.metadata["token_endpoint"], refresh_token=token["refresh_token"]
            )
    assert raised.value.error == "invalid_grant"


# --- requests-oauthlib ------------------------------------------------------------------------


@pytest.fixture
def oauthlib_over_http(monkeypatch: pytest.MonkeyPatch) -> None:
    """oauthlib refuses plain HTTP unless told otherwise; the test server is on loopback."""
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


@pytest.mark.usefixtures("oauthlib_over_http")
def test_requests_oauthlib_password_and_refresh_grants(server: Server) -> None:
    token_url = server.metadata()["token_endpoint"]
    session = OAuth2Session(client=LegacyApplicationClient(client_id=CLIENT_ID))
    token = session.fetch_token(
        token_url, username=served.USERNAME, password=served.PASSWORD, include_client_id=True
    )
    assert me(session, server) == served.USERNAME
    refreshed = session.refresh_token(token_url, client_id=CLIENT_ID)
    assert refreshed["refresh_token"] != token["refresh_token"]
    assert session.token["access_token"] == refreshed["access_token"]
    assert me(session, server) == served.USERNAME


@pytest.mark.usefixtures("oauthlib_over_http")
def test_requests_oauthlib_raises_invalid_grant_for_a_wrong_password(server: Server) -> None:
    session = OAuth2Session(client=LegacyApplicationClient(client_id=CLIENT_ID))
    with pytest.raises(InvalidGrantError):
        session.fetch_token(
            server.metadata()["token_endpoint"],
            username=served.USERNAME,
            password="not the password",
            include_client_id=True,
        )


# --- resource servers: discovery, then the JWK Set ----------------------------------------------


def _access_token(server: Server) -> str:
    form = {"grant_type": "password", "username": served.USERNAME, "password": served.PASSWORD}
    response = httpx.post(server.metadata()["token_endpoint"], data=form, timeout=30)
    response.raise_for_status()
    return str(response.json()["access_token"])


def test_discovery_alone_leads_pyjwkclient_to_the_key(key_pair_server: Server) -> None:
    metadata = key_pair_server.metadata()
    token = _access_token(key_pair_server)
    signing_key = jwt.PyJWKClient(metadata["jwks_uri"]).get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token,
        signing_key,
        algorithms=[signing_key.algorithm_name],
        issuer=metadata["issuer"],
        audience=key_pair_server.package,
    )
    assert claims["iss"] == key_pair_server.url
    assert claims["type"] == "access"


def test_discovery_alone_leads_joserfc_to_the_key(key_pair_server: Server) -> None:
    metadata = key_pair_server.metadata()
    token = _access_token(key_pair_server)
    key_set = KeySet.import_key_set(httpx.get(metadata["jwks_uri"], timeout=10).json())
    algorithm = key_set.keys[0].alg
    with warnings.catch_warnings():
        # joserfc flags `EdDSA` as superseded by RFC 9864's `Ed25519`; the key and the
        # signature are the same, and PyJWT and most verifiers still name it EdDSA.
        warnings.simplefilter("ignore", SecurityWarning)
        decoded = jose_jwt.decode(token, key_set, algorithms=[algorithm])
    registry = jose_jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": metadata["issuer"]},
        aud={"essential": True, "value": key_pair_server.package},
        exp={"essential": True},
    )
    registry.validate(decoded.claims)
    # The set holds the signing key and the staged next key, of one algorithm; joserfc picks
    # the key by the token's kid.
    assert len(key_set.keys) == 2
    assert {key.alg for key in key_set.keys} == {algorithm}
    assert decoded.header["kid"] in {key.kid for key in key_set.keys}
