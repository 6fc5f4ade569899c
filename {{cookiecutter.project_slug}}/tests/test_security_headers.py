"""Security headers on every answer (OWASP REST Security cheat sheet), and the docs pages'
own Content-Security-Policy that lets exactly their own code run."""

import base64
import hashlib
import re
from typing import Any

import httpx
import pytest

from {{ cookiecutter.package_name }}.config import Settings

from conftest import bearer, running

API_HEADERS = {
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}
INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)
REDOC_NONCE = re.compile(r'"nonce": "([^"]+)"')


def _assert_api_headers(response: httpx.Response) -> None:
    for name, value in API_HEADERS.items():
        assert response.headers.get(name) == value, (response.url, name)
    assert "strict-transport-security" not in response.headers


def _directives(policy: str) -> dict[str, list[str]]:
    parts = (directive.split() for directive in policy.split(";"))
    return {name: sources for name, *sources in parts}


def _sha256_source(text: str) -> str:
    return f"'sha256-{base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()}'"


async def test_token_answers_carry_every_api_header(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    refreshed = await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    me = await client.get("/users/me", headers=bearer(refreshed.json()["access_token"]))
    for response in (refreshed, me):
        assert response.status_code == 200
        _assert_api_headers(response)


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("GET", "/health", {}, 200),
        ("GET", "/openapi.json", {}, 200),
        # The middleware, where the project has it, refuses before routing.
        ("GET", "/no-such-path", {}, 401 if "public_paths" in Settings.model_fields else 404),
        ("GET", "/users/me", {}, 401),
        ("POST", "/auth/login", {"data": {"grant_type": "password", "username": "x"}}, 400),
        ("POST", "/auth/refresh", {"json": {}}, 422),
        ("POST", "/auth/login", {"content": b"x" * 70000}, 413),
    ],
    ids=["health", "openapi", "not-found", "unauthenticated", "bad-login", "invalid", "too-large"],
)
async def test_every_other_answer_carries_them_too(
    client: httpx.AsyncClient, method: str, path: str, kwargs: dict[str, Any], status: int
) -> None:
    response = await client.request(method, path, **kwargs)
    assert response.status_code == status
    _assert_api_headers(response)


async def test_public_documents_keep_their_own_caching(client: httpx.AsyncClient) -> None:
    jwks = await client.get("/.well-known/jwks.json")
    assert jwks.headers["cache-control"] == "public, max-age=300"
    asset = await client.get("/docs-assets/swagger-ui-bundle.js")
    assert asset.headers["cache-control"] == "no-cache"
    assert asset.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("page", ["/docs", "/docs/oauth2-redirect", "/redoc"])
async def test_doc_pages_run_only_their_own_inline_scripts(
    client: httpx.AsyncClient, page: str
) -> None:
    response = await client.get(page)
    policy = _directives(response.headers["content-security-policy"])
    scripts = INLINE_SCRIPT.findall(response.text)
    assert scripts, "the page has no inline script to allow"
    assert policy["script-src"] == ["'self'", *map(_sha256_source, scripts)]
    assert policy["default-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert "'unsafe-inline'" not in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"


async def test_redoc_gets_a_fresh_style_nonce_per_answer(client: httpx.AsyncClient) -> None:
    nonces = []
    for _ in range(2):
        response = await client.get("/redoc")
        [nonce] = REDOC_NONCE.findall(response.text)
        policy = _directives(response.headers["content-security-policy"])
        assert f"'nonce-{nonce}'" in policy["style-src"]
        nonces.append(nonce)
    assert nonces[0] != nonces[1]


async def test_hsts_only_when_the_service_is_behind_https(settings: Settings) -> None:
    behind_https = settings.model_copy(update={"https_only": True})
    async with running(behind_https) as (_, http):
        response = await http.get("/health")
    assert response.headers["strict-transport-security"] == "max-age=63072000; includeSubDomains"
