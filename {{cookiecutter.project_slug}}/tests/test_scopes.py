"""Roles and scopes (users/roles.py): what a token may do, asked for at the token endpoint
(RFC 6749 section 3.3), carried in the `scope` claim (RFC 9068 section 2.2.3) and checked by
routes that declare `Security(..., scopes=[...])` (RFC 6750 section 3.1)."""

import asyncio
import time

import httpx
import jwt
import pytest
from fastapi import FastAPI

from {{ cookiecutter.package_name }}.users.roles import ROLE_SCOPES, SCOPES, Role

from conftest import access_claims, add_user, bearer, login, services_of, sign

ADMIN = "root@example.com"


def _claims(token: str) -> dict[str, object]:
    return jwt.decode(token, options={"verify_signature": False})


def _refresh_grant(refresh_token: str, **form: str) -> dict[str, str]:
    return {"grant_type": "refresh_token", "refresh_token": refresh_token} | form


@pytest.fixture
async def admin_id(app: FastAPI) -> str:
    return await add_user(app, ADMIN, role=Role.ADMIN)


def test_every_role_grants_only_known_scopes() -> None:
    assert set(ROLE_SCOPES) == set(Role)
    for scopes in ROLE_SCOPES.values():
        assert scopes <= SCOPES.keys()
    assert "admin" in ROLE_SCOPES[Role.ADMIN]
    assert "admin" not in ROLE_SCOPES[Role.USER]


async def test_a_token_carries_the_scopes_of_its_users_role(
    client: httpx.AsyncClient, user_id: str, admin_id: str
) -> None:
    user = (await login(client)).json()
    admin = (await login(client, ADMIN)).json()
    assert user["scope"] == "profile"
    assert _claims(user["access_token"])["scope"] == "profile"
    assert admin["scope"] == "admin profile"
    assert _claims(admin["access_token"])["scope"] == "admin profile"
    # auth_time is the login's, on access tokens too: routes read how recent the login is.
    access = _claims(admin["access_token"])
    assert access["auth_time"] == pytest.approx(time.time(), abs=5)
    assert access["auth_time"] <= access["iat"]


async def test_a_client_may_ask_for_fewer_scopes(client: httpx.AsyncClient, admin_id: str) -> None:
    response = await login(client, ADMIN, scope="admin")
    assert response.status_code == 200
    assert response.json()["scope"] == "admin"
    token = response.json()["access_token"]
    assert _claims(token)["scope"] == "admin"
    # /users/me needs `profile`, which this token was not given.
    me = await client.get("/users/me", headers=bearer(token))
    assert me.status_code == 403
    assert me.headers["www-authenticate"] == 'Bearer error="insufficient_scope", scope="profile"'
    assert me.json() == {"detail": "Not enough permissions"}
    # A route that only needs a valid token still takes it.
    assert (await client.get("/protected", headers=bearer(token))).status_code == 200


async def test_more_scopes_than_the_role_allows_are_narrowed_or_refused(
    client: httpx.AsyncClient, user_id: str
) -> None:
    # Some of them allowed: the answer names the narrower grant (RFC 6749 section 3.3).
    narrowed = await login(client, scope="profile admin")
    assert narrowed.status_code == 200
    assert narrowed.json()["scope"] == "profile"
    assert _claims(narrowed.json()["access_token"])["scope"] == "profile"
    # None of them allowed: invalid_scope, no tokens.
    refused = await login(client, scope="admin")
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_scope"
    assert "access_token" not in refused.text


async def test_an_unknown_scope_is_refused_without_being_echoed(
    client: httpx.AsyncClient, user_id: str
) -> None:
    response = await login(client, scope="profile probe-Xy7")
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_scope",
        "error_description": "Unknown scope requested",
    }
    assert "probe-Xy7" not in response.text


async def test_a_refresh_keeps_or_narrows_the_scopes_but_never_widens_them(
    client: httpx.AsyncClient, admin_id: str
) -> None:
    narrow = (await login(client, ADMIN, scope="profile")).json()
    wider = await client.post(
        "/auth/login", data=_refresh_grant(narrow["refresh_token"], scope="admin")
    )
    assert wider.status_code == 400
    assert wider.json()["error"] == "invalid_scope"
    # The refused request did not spend the refresh token.
    kept = await client.post("/auth/login", data=_refresh_grant(narrow["refresh_token"]))
    assert kept.status_code == 200
    assert kept.json()["scope"] == "profile"
    assert _claims(kept.json()["refresh_token"])["scope"] == "profile"

    full = (await login(client, ADMIN)).json()
    narrowed = await client.post(
        "/auth/login", data=_refresh_grant(full["refresh_token"], scope="admin")
    )
    assert narrowed.status_code == 200
    assert narrowed.json()["scope"] == "admin"
    # The JSON refresh route keeps the login's scopes.
    again = await client.post(
        "/auth/refresh", json={"refresh_token": narrowed.json()["refresh_token"]}
    )
    assert again.json()["scope"] == "admin"


async def test_a_scope_claim_in_another_spelling_grants_nothing(
    app: FastAPI, client: httpx.AsyncClient, user_id: str
) -> None:
    """Some issuers write scopes as an `scp` list; this service only reads `scope`, so such a
    token is valid but grants no scope."""
    token = sign(app, access_claims(user_id, scope=None, scp=["profile"]))
    assert (await client.get("/protected", headers=bearer(token))).status_code == 200
    response = await client.get("/users/me", headers=bearer(token))
    assert response.status_code == 403
    assert response.headers["www-authenticate"].startswith('Bearer error="insufficient_scope"')


async def _until_refused(client: httpx.AsyncClient, access_token: str, path: str) -> int:
    """The answer to `access_token` once the revocation reached this worker (at once here;
    within the token store's poll from another process)."""
    for _ in range(100):
        status = (await client.get(path, headers=bearer(access_token))).status_code
        if status != 200:
            return status
        await asyncio.sleep(0.02)
    pytest.fail(f"{path} still accepted the token after the role change")


async def test_role_changed_mid_session(
    app: FastAPI, client: httpx.AsyncClient, user_id: str, admin_id: str
) -> None:
    """Attack catalog, `role-changed-mid-session` (OWASP Session Management: renew the session
    on privilege change): tokens issued under a role must not outlive it. A promoted user's
    old tokens do not gain the new scopes, and a demoted admin's keep none of theirs: each
    change ends every session of the user, so the refresh token is refused (invalid_grant)
    and the access token is refused within the revocation delay."""
    user = (await login(client)).json()
    admin = (await login(client, ADMIN)).json()
    accounts = services_of(app).accounts

    await accounts.set_role(user_id, Role.ADMIN, client="test", actor=admin_id)
    assert await _until_refused(client, user["access_token"], "/users/me") == 401
    grant = await client.post("/auth/login", data=_refresh_grant(user["refresh_token"]))
    assert grant.status_code == 400
    assert grant.json()["error"] == "invalid_grant"
    promoted = (await login(client)).json()
    assert promoted["scope"] == "admin profile"

    await accounts.set_role(admin_id, Role.USER, client="test", actor=user_id)
    assert await _until_refused(client, admin["access_token"], "/admin/users") == 401
    refresh = await client.post("/auth/refresh", json={"refresh_token": admin["refresh_token"]})
    assert refresh.status_code == 401
    demoted = (await login(client, ADMIN)).json()
    assert demoted["scope"] == "profile"
    forbidden = await client.get("/admin/users", headers=bearer(demoted["access_token"]))
    assert forbidden.status_code == 403
    # The promoted user's new session was not touched by the other user's change.
    listed = await client.get("/admin/users", headers=bearer(promoted["access_token"]))
    assert listed.status_code == 200


async def test_openapi_shows_the_scopes_for_swagger_ui(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    ((name, scheme),) = schema["components"]["securitySchemes"].items()
    assert scheme["flows"]["password"]["scopes"] == SCOPES
    assert schema["paths"]["/users/me"]["get"]["security"] == [{name: ["profile"]}]
    assert schema["paths"]["/protected"]["get"]["security"] == [{name: []}]
