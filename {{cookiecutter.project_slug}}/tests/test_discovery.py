"""GET /.well-known/oauth-authorization-server: authorization server metadata (RFC 8414)."""

import httpx
import pytest
from fastapi import FastAPI

from conftest import ASYMMETRIC_ALGORITHMS, make_settings, running

METADATA = "/.well-known/oauth-authorization-server"


async def test_metadata_names_the_endpoints_from_the_request(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    response = await client.get(METADATA)
    assert response.status_code == 200
    metadata = response.json()
    has_key_pair = app.state.services.settings.jwt_algorithm in ASYMMETRIC_ALGORITHMS
    expected = {
        "issuer": "http://test",
        "token_endpoint": "http://test/auth/login",
        "revocation_endpoint": "http://test/auth/revoke",
        "grant_types_supported": ["password", "refresh_token"],
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": ["none"],
        "revocation_endpoint_auth_methods_supported": ["none"],
    } | ({"jwks_uri": "http://test/.well-known/jwks.json"} if has_key_pair else {})
    assert metadata == expected
    # Built from the Host header: no shared cache may keep it for another host's clients.
    assert response.headers["cache-control"] == "no-store"


async def test_every_advertised_endpoint_answers(client: httpx.AsyncClient) -> None:
    metadata = (await client.get(METADATA)).json()
    assert (
        await client.post(metadata["revocation_endpoint"], data={"token": "x"})
    ).status_code == 200
    token = await client.post(metadata["token_endpoint"], data={"grant_type": "nonsense"})
    assert token.json()["error"] == "unsupported_grant_type"
    if "jwks_uri" in metadata:
        assert (await client.get(metadata["jwks_uri"])).json()["keys"]


async def test_the_urls_follow_the_root_path(app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=app, root_path="/api")
    async with httpx.AsyncClient(transport=transport, base_url="https://example.com") as http:
        metadata = (await http.get(METADATA)).json()
    assert metadata["issuer"] == "https://example.com/api"
    assert metadata["token_endpoint"] == "https://example.com/api/auth/login"


@pytest.mark.parametrize("issuer", ["https://auth.example.com", "https://example.com/api/"])
async def test_a_url_issuer_names_the_endpoints_whatever_the_request(
    database_url: str, issuer: str
) -> None:
    """In production JWT_ISSUER is the public base URL: the metadata's issuer is exactly the
    tokens' `iss` (RFC 8414 section 3.3), and the endpoints hang below it."""
    async with running(make_settings(database_url, jwt_issuer=issuer)) as (_, http):
        response = await http.get(METADATA, headers={"Host": "attacker.example"})
    metadata = response.json()
    assert metadata["issuer"] == issuer
    base = issuer.rstrip("/")
    assert metadata["token_endpoint"] == f"{base}/auth/login"
    assert metadata["revocation_endpoint"] == f"{base}/auth/revoke"
    assert response.headers["cache-control"] == "public, max-age=300"


async def test_the_metadata_is_documented(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    operation = document["paths"][METADATA]["get"]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/AuthorizationServerMetadata"}
