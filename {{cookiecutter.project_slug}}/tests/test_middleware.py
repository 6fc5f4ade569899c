"""AuthMiddleware: every path but the exact public ones needs a token, whatever its spelling."""

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from fastapi import FastAPI, Request, WebSocket

from {{ cookiecutter.package_name }}.config import SettingsError, load_settings
from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.security.tokens import TokenService

from conftest import SECRET_KEY, bearer, client_for, make_settings
from websocket_client import HandshakeRefused, connect

METHODS = ("GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE")
ALWAYS_PUBLIC = (
    "/health",
    "/docs",
    "/docs/oauth2-redirect",
    "/redoc",
    "/openapi.json",
    "/.well-known/oauth-authorization-server",
)


def _add_unguarded_routes(app: FastAPI) -> None:
    """Routes that forgot their auth dependency: only the middleware stands in front of them."""

    @app.api_route(
        "/unguarded", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False
    )
    async def unguarded(request: Request) -> dict[str, str]:
        claims = request.state.claims
        return {"user_id": claims.user_id, "session_id": claims.session_id}

    @app.websocket("/unguarded-ws")
    async def websocket(socket: WebSocket) -> None:
        await socket.accept()
        await socket.send_json({"user_id": socket.state.claims.user_id})
        await socket.close()


@pytest.fixture
async def guarded_app(app: FastAPI) -> FastAPI:
    _add_unguarded_routes(app)
    return app


async def asgi_request(
    app: FastAPI,
    raw_path: bytes,
    method: str = "GET",
    headers: list[tuple[bytes, bytes]] | None = None,
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Send a request as uvicorn would: `path` is `raw_path` percent-decoded, nothing more.

    httpx would tidy paths like `/auth/../users/me` before sending; real clients need not.
    """
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": unquote(raw_path.decode("ascii")),
        "raw_path": raw_path,
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"test"), *(headers or [])],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    body = b"".join(message.get("body", b"") for message in sent[1:])
    return sent[0]["status"], sent[0]["headers"], body


def _authorization(token: str) -> list[tuple[bytes, bytes]]:
    return [(b"authorization", f"Bearer {token}".encode())]


async def test_public_paths_need_no_token(client: httpx.AsyncClient) -> None:
    for path in ALWAYS_PUBLIC:
        response = await client.get(path)
        assert response.status_code == 200, path


async def test_the_jwks_path_is_public(app: FastAPI, client: httpx.AsyncClient) -> None:
    assert "/.well-known/jwks.json" in app.state.services.settings.public_paths
    assert (await client.get("/.well-known/jwks.json")).status_code != 401


async def test_login_and_refresh_need_no_access_token(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    response = await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert response.status_code == 200
    form = {"grant_type": "refresh_token", "refresh_token": response.json()["refresh_token"]}
    assert (await client.post("/auth/login", data=form)).status_code == 200


async def test_revocation_needs_no_access_token(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    response = await client.post("/auth/revoke", data={"token": tokens["refresh_token"]})
    assert response.status_code == 200
    protected = await client.get("/protected", headers=bearer(tokens["access_token"]))
    assert protected.status_code == 401


async def test_every_other_route_refuses_every_method_without_a_token(
    guarded_app: FastAPI, client: httpx.AsyncClient
) -> None:
    public = guarded_app.state.services.settings.public_paths
    # Every documented route, plus the two test routes that OpenAPI leaves out.
    paths = {path.replace("{", "").replace("}", "") for path in guarded_app.openapi()["paths"]}
    paths = (paths | {"/unguarded", "/unguarded-ws", "/ws"}) - public
    assert {"/users/me", "/protected", "/unguarded", "/unguarded-ws", "/ws"} <= paths
    # Public to the middleware only because it authenticates itself (in cookie mode also
    # from the refresh cookie): without credentials it refuses just the same.
    paths.add("/auth/logout")
    for path in paths:
        for method in METHODS:
            response = await client.request(method, path)
            assert response.status_code in {401, 405}, (method, path)
            if path != "/auth/logout" or method == "POST":
                assert response.status_code == 401, (method, path)
                assert response.headers["www-authenticate"] == "Bearer"


async def test_a_route_without_a_dependency_is_still_protected(
    guarded_app: FastAPI, client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    assert (await client.get("/unguarded")).status_code == 401
    response = await client.get("/unguarded", headers=bearer(tokens["access_token"]))
    assert response.status_code == 200


@pytest.mark.parametrize(
    "raw_path",
    [
        b"//unguarded",
        b"/unguarded/",
        b"/UNGUARDED",
        b"/Unguarded",
        b"/./unguarded",
        b"/health/../unguarded",
        b"/auth/login/../../unguarded",
        b"/docs/..%2Funguarded",
        b"/health%2F..%2Funguarded",
        b"/%75nguarded",
        b"/unguarded%20",
        b"/unguarded;",
        b"/unguarded%00",
        b"/health/",
        b"/HEALTH",
        b"//health",
        b"/health/.",
        b"/auth/login/",
        b"/docs/",
        b"/docs/oauth2-redirect/../../unguarded",
        b"//users/me",
        b"/users/me/",
        b"/auth/../users/me",
        b"/USERS/ME",
        b"/users%2Fme/",
    ],
)
async def test_path_tricks_need_a_token(guarded_app: FastAPI, raw_path: bytes) -> None:
    # A 401 (not 404 or 307) shows the middleware refused it before the router ever saw it.
    for method in ("GET", "HEAD", "OPTIONS", "POST"):
        status, _, _ = await asgi_request(guarded_app, raw_path, method)
        assert status == 401, (method, raw_path)


async def test_the_decoded_path_is_what_counts_like_for_the_router(
    guarded_app: FastAPI, tokens: dict[str, str]
) -> None:
    # %75 is "u": the server decodes it, the router dispatches on "/unguarded", and so does
    # the middleware. The same string on both sides is what makes tricks impossible.
    status, _, _ = await asgi_request(guarded_app, b"/%75nguarded")
    assert status == 401
    status, _, _ = await asgi_request(
        guarded_app, b"/%75nguarded", headers=_authorization(tokens["access_token"])
    )
    assert status == 200
    status, _, _ = await asgi_request(guarded_app, b"/%68ealth")
    assert status == 200


async def test_public_paths_are_matched_below_the_root_path(guarded_app: FastAPI) -> None:
    # Served under /api by a proxy: the router dispatches on the path below it, and so do we.
    transport = httpx.ASGITransport(app=guarded_app, root_path="/api")
    async with httpx.AsyncClient(transport=transport, base_url="http://test/api") as http:
        assert (await http.get("/health")).status_code == 200
        assert (await http.get("/unguarded")).status_code == 401


async def test_claims_are_on_request_state(
    guarded_app: FastAPI, client: httpx.AsyncClient, tokens: dict[str, str], user_id: str
) -> None:
    response = await client.get("/unguarded", headers=bearer(tokens["access_token"]))
    assert response.json()["user_id"] == user_id
    assert response.json()["session_id"]


async def test_routes_reuse_the_middleware_claims_instead_of_verifying_again(
    app: FastAPI,
    client: httpx.AsyncClient,
    tokens: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []
    verify = TokenService.verify_access

    def counting_verify(self: TokenService, token: str) -> Any:
        calls.append(token)
        return verify(self, token)

    monkeypatch.setattr(TokenService, "verify_access", counting_verify)
    response = await client.get("/protected", headers=bearer(tokens["access_token"]))
    assert response.status_code == 200
    assert calls == [tokens["access_token"]]


async def test_revocation_is_seen_by_the_middleware(
    guarded_app: FastAPI, client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    headers = bearer(tokens["access_token"])
    assert (await client.post("/auth/logout", headers=headers)).status_code == 204
    response = await client.get("/unguarded", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


async def test_two_authorization_headers_are_refused_by_the_middleware(
    guarded_app: FastAPI, tokens: dict[str, str]
) -> None:
    twice = _authorization(tokens["access_token"]) * 2
    status, headers, _ = await asgi_request(guarded_app, b"/unguarded", headers=twice)
    assert status == 401
    assert (b"www-authenticate", b'Bearer error="invalid_token"') in headers


@pytest.fixture
async def dependency_only_app(database_url: str) -> AsyncIterator[FastAPI]:
    """The same app with /protected made public: only its dependency answers there."""
    settings = make_settings(database_url, public_paths=frozenset({"/health", "/protected"}))
    application = create_app(settings)
    _add_unguarded_routes(application)
    async with application.router.lifespan_context(application):
        yield application


@pytest.mark.parametrize(
    "headers",
    [
        [],
        [(b"authorization", b"Bearer not.a.token")],
        [(b"authorization", b"Basic dXNlcjpwYXNz")],
        [(b"authorization", b"Bearer a.b.c"), (b"authorization", b"Bearer a.b.c")],
    ],
    ids=["missing", "invalid", "other-scheme", "two-headers"],
)
async def test_middleware_and_dependency_refuse_identically(
    dependency_only_app: FastAPI, headers: list[tuple[bytes, bytes]]
) -> None:
    by_dependency = await asgi_request(dependency_only_app, b"/protected", headers=headers)
    by_middleware = await asgi_request(dependency_only_app, b"/unguarded", headers=headers)
    assert by_dependency[0] == 401
    assert by_middleware == by_dependency


@pytest.mark.parametrize(
    "headers",
    [{}, bearer("not-a-token"), {"Authorization": "Basic dXNlcjpwYXNz"}],
    ids=["missing", "invalid", "other-scheme"],
)
async def test_websocket_handshakes_without_a_token_are_refused_before_accept(
    guarded_app: FastAPI, headers: dict[str, str]
) -> None:
    """The route accepts anyone: only the middleware refuses, with 1008 before accept."""
    with pytest.raises(HandshakeRefused) as refused:
        async with connect(guarded_app, "/unguarded-ws", headers):
            pass
    assert refused.value.code == 1008


async def test_websocket_claims_are_on_the_socket_state(
    guarded_app: FastAPI, tokens: dict[str, str], user_id: str
) -> None:
    async with connect(guarded_app, "/unguarded-ws", bearer(tokens["access_token"])) as socket:
        assert await socket.receive_json() == {"user_id": user_id}
        assert (await socket.closed())[0] == 1000


async def test_the_websocket_route_reuses_the_middleware_claims(
    app: FastAPI, tokens: dict[str, str], user_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    verify = TokenService.verify_access

    def counting_verify(self: TokenService, token: str) -> Any:
        calls.append(token)
        return verify(self, token)

    monkeypatch.setattr(TokenService, "verify_access", counting_verify)
    async with connect(app, headers=bearer(tokens["access_token"])) as socket:
        await socket.send_text("hi")
        assert await socket.receive_json() == {"user_id": user_id, "echo": "hi"}
    assert calls == [tokens["access_token"]]


async def test_lifespan_scopes_pass_through(database_url: str) -> None:
    application = create_app(make_settings(database_url))
    sent: list[dict[str, Any]] = []
    incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await application({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)
    assert [message["type"] for message in sent] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]


async def test_public_paths_come_from_settings(database_url: str) -> None:
    settings = make_settings(database_url, public_paths=frozenset({"/auth/login"}))
    application = create_app(settings)
    async with application.router.lifespan_context(application), client_for(application) as http:
        assert (await http.get("/health")).status_code == 401


@pytest.mark.parametrize("entry", ["health", "/users/*", "/docs?x=1", "/a#b"])
def test_inexact_public_paths_stop_the_app(entry: str) -> None:
    with pytest.raises(SettingsError, match="PUBLIC_PATHS"):
        load_settings(
            _env_file=None, jwt_algorithm="HS256", secret_key=SECRET_KEY, public_paths=[entry]
        )
