"""POST /auth/login as an OAuth2 token endpoint: the refresh grant (RFC 6749 section 6) and
every error answer (section 5.2). The password grant's own cases are in test_login.py."""

import httpx
import jwt
import pytest

from {{ cookiecutter.package_name }}.security.tokens import MAX_TOKEN_LENGTH

from conftest import PASSWORD, bearer, login


async def _refresh_grant(client: httpx.AsyncClient, refresh_token: str) -> httpx.Response:
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    return await client.post("/auth/login", data=form)


def _assert_error(response: httpx.Response, error: str, description: str) -> None:
    assert response.status_code == 400, response.text
    assert response.json() == {"error": error, "error_description": description}
    # The no-cache headers of RFC 6749 section 5.2's example, and no Bearer challenge: the
    # token endpoint is not a protected resource.
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    assert "www-authenticate" not in response.headers


async def test_the_refresh_grant_rotates_like_auth_refresh(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    response = await _refresh_grant(client, tokens["refresh_token"])
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    fresh = response.json()
    assert set(fresh) == {"access_token", "refresh_token", "token_type", "expires_in", "scope"}
    assert fresh["refresh_token"] != tokens["refresh_token"]
    old, new = (
        jwt.decode(token, options={"verify_signature": False})
        for token in (tokens["refresh_token"], fresh["refresh_token"])
    )
    assert new["sid"] == old["sid"]
    assert new["auth_time"] == old["auth_time"]
    assert (
        await client.get("/protected", headers=bearer(fresh["access_token"]))
    ).status_code == 200
    # The JSON route takes the new token: both routes rotate one session.
    refreshed = await client.post("/auth/refresh", json={"refresh_token": fresh["refresh_token"]})
    assert refreshed.status_code == 200


async def test_a_reused_refresh_token_is_an_invalid_grant_and_ends_the_session(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    fresh = (await _refresh_grant(client, tokens["refresh_token"])).json()
    reuse = await _refresh_grant(client, tokens["refresh_token"])
    _assert_error(reuse, "invalid_grant", "Invalid or expired refresh token")
    # Reuse detection: the legitimate successor died with the thief's copy.
    _assert_error(
        await _refresh_grant(client, fresh["refresh_token"]),
        "invalid_grant",
        "Invalid or expired refresh token",
    )
    assert (
        await client.get("/protected", headers=bearer(fresh["access_token"]))
    ).status_code == 401


@pytest.mark.parametrize(
    "token",
    ["not-a-token", "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0."],
    ids=["garbage", "alg-none"],
)
async def test_a_bad_refresh_token_is_an_invalid_grant(
    client: httpx.AsyncClient, token: str
) -> None:
    response = await _refresh_grant(client, token)
    _assert_error(response, "invalid_grant", "Invalid or expired refresh token")


async def test_an_access_token_is_no_refresh_grant(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    response = await _refresh_grant(client, tokens["access_token"])
    _assert_error(response, "invalid_grant", "Invalid or expired refresh token")


async def test_a_logged_out_session_cannot_be_refreshed_by_grant(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    await client.post("/auth/logout", headers=bearer(tokens["access_token"]))
    response = await _refresh_grant(client, tokens["refresh_token"])
    _assert_error(response, "invalid_grant", "Invalid or expired refresh token")


@pytest.mark.parametrize(
    ("form", "error", "description"),
    [
        (
            {"username": "alice@example.com", "password": PASSWORD},
            "invalid_request",
            "Missing parameter: grant_type",
        ),
        ({"grant_type": ""}, "invalid_request", "Missing parameter: grant_type"),
        ({"grant_type": "refresh_token"}, "invalid_request", "Missing parameter: refresh_token"),
        (
            {"grant_type": "refresh_token", "refresh_token": "x" * (MAX_TOKEN_LENGTH + 1)},
            "invalid_request",
            "Parameter too long: refresh_token",
        ),
        (
            {"grant_type": "client_credentials"},
            "unsupported_grant_type",
            "Supported: password, refresh_token",
        ),
        (
            {"grant_type": "authorization_code", "code": "x"},
            "unsupported_grant_type",
            "Supported: password, refresh_token",
        ),
        (
            {"grant_type": "PASSWORD"},
            "unsupported_grant_type",
            "Supported: password, refresh_token",
        ),
        (
            {
                "grant_type": "password",
                "username": "alice@example.com",
                "password": PASSWORD,
                "scope": "admin",
            },
            "invalid_scope",
            "The requested scope exceeds what may be granted",
        ),
        (
            {"grant_type": "refresh_token", "refresh_token": "x", "scope": "read"},
            "invalid_scope",
            "Unknown scope requested",
        ),
    ],
    ids=[
        "no-grant-type",
        "empty-grant-type",
        "refresh-without-token",
        "refresh-token-too-long",
        "client-credentials",
        "authorization-code",
        "grant-type-is-case-sensitive",
        "password-with-a-scope-the-role-lacks",
        "refresh-with-an-unknown-scope",
    ],
)
async def test_refused_token_requests(
    client: httpx.AsyncClient, user_id: str, form: dict[str, str], error: str, description: str
) -> None:
    response = await client.post("/auth/login", data=form)
    _assert_error(response, error, description)
    assert "access_token" not in response.text


async def test_a_repeated_parameter_is_an_invalid_request(
    client: httpx.AsyncClient, user_id: str
) -> None:
    """RFC 6749 section 3.2: parameters must not be included more than once; a proxy that reads
    the first copy and a server that reads the last would disagree about the request."""
    body = f"grant_type=password&username=alice%40example.com&password=x&password={PASSWORD}"
    response = await client.post(
        "/auth/login",
        content=body.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    _assert_error(response, "invalid_request", "Repeated parameter: password")


async def test_an_empty_scope_and_a_client_id_are_accepted(
    client: httpx.AsyncClient, user_id: str
) -> None:
    """What Swagger UI (an empty scope) and public-client libraries (their client_id) send."""
    form = {
        "grant_type": "password",
        "username": "alice@example.com",
        "password": PASSWORD,
        "scope": "",
        "client_id": "my-app",
    }
    assert (await client.post("/auth/login", data=form)).status_code == 200


async def test_a_refused_secret_is_never_echoed(client: httpx.AsyncClient, user_id: str) -> None:
    secret = "s3cr3t-password-typed-into-the-username-box-" * 6
    form = {"grant_type": "password", "username": secret, "password": "x"}
    response = await client.post("/auth/login", data=form)
    assert response.status_code == 400
    assert "s3cr3t" not in response.text


async def test_throttling_stays_a_429_with_retry_after(
    client: httpx.AsyncClient, user_id: str
) -> None:
    for _ in range(10):
        await login(client, password="wrong password")
    response = await login(client)
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) > 0


async def test_the_openapi_document_describes_the_error_shapes(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    login_answers = document["paths"]["/auth/login"]["post"]["responses"]
    schema = login_answers["400"]["content"]["application/json"]["schema"]
    assert {"$ref": "#/components/schemas/OAuth2Error"} in schema["anyOf"]
    error = document["components"]["schemas"]["OAuth2Error"]
    assert error["required"] == ["error", "error_description"]
    assert set(error["properties"]["error"]["enum"]) == {
        "invalid_request",
        "invalid_grant",
        "unsupported_grant_type",
        "invalid_scope",
    }
    assert {"200", "400", "413", "429", "503"} <= set(login_answers)
    # No Bearer challenge: a refused grant is a 400. (FastAPI still documents its 422 for a
    # field sent as a multipart file, which no OAuth2 client does.)
    assert "401" not in login_answers
    form = document["paths"]["/auth/login"]["post"]["requestBody"]["content"]
    assert "application/x-www-form-urlencoded" in form
