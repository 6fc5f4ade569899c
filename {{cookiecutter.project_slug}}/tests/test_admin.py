"""The admin API (/admin/users): who may call it, what each route does, the last-admin rule
(under concurrency too, on this project's database), and the audit trail it leaves."""

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from {{ cookiecutter.package_name }}.auth.accounts import AccountService, LastAdminError
from {{ cookiecutter.package_name }}.users import repository
from {{ cookiecutter.package_name }}.users.models import User
from {{ cookiecutter.package_name }}.users.roles import Role

from conftest import access_claims, add_user, bearer, login, services_of, sign

ADMIN = "root@example.com"
USER = "alice@example.com"
AUDIT_LOGGER = "{{ cookiecutter.package_name }}.audit"
LAST_ADMIN = "The last active admin cannot be demoted or deactivated; promote another first"


@pytest.fixture
async def admin_id(app: FastAPI) -> str:
    return await add_user(app, ADMIN, role=Role.ADMIN)


@pytest.fixture
async def admin(client: httpx.AsyncClient, admin_id: str) -> dict[str, str]:
    """The admin's headers, from a login just now."""
    response = await login(client, ADMIN)
    assert response.status_code == 200, response.text
    return bearer(response.json()["access_token"])


async def _refresh(client: httpx.AsyncClient, refresh_token: str) -> int:
    return (await client.post("/auth/refresh", json={"refresh_token": refresh_token})).status_code


async def _accepted(client: httpx.AsyncClient, access_token: str) -> bool:
    return (await client.get("/protected", headers=bearer(access_token))).status_code == 200


async def _until_rejected(client: httpx.AsyncClient, access_token: str) -> None:
    """The session was revoked; the token store tells this worker within its poll."""
    for _ in range(100):
        if not await _accepted(client, access_token):
            return
        await asyncio.sleep(0.02)
    pytest.fail("the access token was still accepted after the revocation")


async def _active_admins(app: FastAPI) -> int:
    async with services_of(app).sessionmaker() as db:
        count = await db.scalar(
            select(func.count()).where(User.role == Role.ADMIN, User.is_active.is_(True))
        )
    return int(count or 0)


def _audit(caplog: pytest.LogCaptureFixture) -> list[tuple[str, object, object, object]]:
    """(event, user_id, actor, reason) of every audit record."""
    return [
        (r.event, r.user_id, getattr(r, "actor", None), getattr(r, "reason", None))  # type: ignore[attr-defined]
        for r in caplog.records
        if r.name == AUDIT_LOGGER
    ]


# Every admin route, as (method, path, JSON body); {id} is replaced by a user's id.
ROUTES = [
    ("GET", "/admin/users", None),
    ("GET", "/admin/users/{id}", None),
    ("PUT", "/admin/users/{id}/role", {"role": "admin"}),
    ("POST", "/admin/users/{id}/deactivate", None),
    ("POST", "/admin/users/{id}/reactivate", None),
    ("DELETE", "/admin/users/{id}/sessions", None),
]


async def _call(
    client: httpx.AsyncClient,
    route: tuple[str, str, object],
    user_id: str,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    method, path, body = route
    return await client.request(method, path.replace("{id}", user_id), headers=headers, json=body)


# --- who may call it -----------------------------------------------------------------------
# One test per refusal, each over every route: an app per test is most of what a test costs.


async def test_no_token_or_a_bad_one_is_401(client: httpx.AsyncClient, user_id: str) -> None:
    for route in ROUTES:
        assert (await _call(client, route, user_id)).status_code == 401, route
        bad = await _call(client, route, user_id, bearer("not.a.token"))
        assert bad.status_code == 401, route
        assert bad.headers["www-authenticate"] == 'Bearer error="invalid_token"'


async def test_a_users_token_is_403_insufficient_scope(
    client: httpx.AsyncClient, user_id: str, tokens: dict[str, str]
) -> None:
    for route in ROUTES:
        response = await _call(client, route, user_id, bearer(tokens["access_token"]))
        assert response.status_code == 403, route
        assert response.headers["www-authenticate"] == (
            'Bearer error="insufficient_scope", scope="admin"'
        )
        assert response.json() == {"detail": "Not enough permissions"}
    assert (await client.get(f"/admin/users/{user_id}/sessions")).status_code in (401, 405)


async def test_an_admin_token_without_the_admin_scope_is_403(
    client: httpx.AsyncClient, user_id: str, admin_id: str
) -> None:
    narrow = await login(client, ADMIN, scope="profile")
    assert narrow.json()["scope"] == "profile"
    for route in ROUTES:
        response = await _call(client, route, user_id, bearer(narrow.json()["access_token"]))
        assert response.status_code == 403, route
        assert 'error="insufficient_scope"' in response.headers["www-authenticate"]


async def test_an_old_login_is_401_insufficient_user_authentication(
    app: FastAPI, client: httpx.AsyncClient, user_id: str, admin_id: str
) -> None:
    """A genuine admin token whose session logged in before FRESH_AUTH_MINUTES."""
    max_age = services_of(app).settings.fresh_auth_seconds
    stale = sign(
        app,
        access_claims(admin_id, scope="admin profile", auth_time=int(time.time()) - max_age - 60),
    )
    for route in ROUTES:
        response = await _call(client, route, user_id, bearer(stale))
        assert response.status_code == 401, route
        challenge = response.headers["www-authenticate"]
        assert 'error="insufficient_user_authentication"' in challenge
        assert f"max_age={max_age}" in challenge
    # Nothing was changed.
    assert (await login(client)).status_code == 200


async def test_an_unknown_or_malformed_user_id_is_404(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    for unknown in (str(uuid.uuid4()), "not-a-uuid", "1", "%20", "x" * 300):
        for route in ROUTES[1:]:
            response = await _call(client, route, unknown, admin)
            assert response.status_code == 404, (route, unknown)
            assert response.json() == {"detail": "User not found"}


# --- listing and reading -------------------------------------------------------------------


async def test_list_pages_through_every_user_once_in_a_stable_order(
    app: FastAPI, client: httpx.AsyncClient, admin_id: str, admin: dict[str, str]
) -> None:
    ids = {admin_id} | {await add_user(app, f"user{n}@example.com") for n in range(6)}
    seen: list[dict[str, object]] = []
    cursor: str | None = None
    pages = 0
    while True:
        params = {"limit": "3"} | ({"cursor": cursor} if cursor else {})
        response = await client.get("/admin/users", params=params, headers=admin)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= 3
        seen.extend(page["items"])
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3  # 7 users, 3 a page: no empty last page
    async with services_of(app).sessionmaker() as db:
        ordered = await db.scalars(select(User.id).order_by(User.created_at, User.id))
    assert [user["id"] for user in seen] == [str(user_id) for user_id in ordered]
    assert {user["id"] for user in seen} == ids
    first = next(user for user in seen if user["id"] == admin_id)
    assert first == {
        "id": admin_id,
        "username": ADMIN,
        "role": "admin",
        "is_active": True,
        "created_at": first["created_at"],
    }
    assert "password" not in response.text


async def test_list_filters_on_active(
    app: FastAPI, client: httpx.AsyncClient, admin_id: str, admin: dict[str, str], user_id: str
) -> None:
    await services_of(app).accounts.set_active(user_id, active=False, client="test")

    async def listed(active: str) -> set[str]:
        response = await client.get("/admin/users", params={"active": active}, headers=admin)
        assert response.status_code == 200
        return {user["id"] for user in response.json()["items"]}

    assert await listed("true") == {admin_id}
    assert await listed("false") == {user_id}
    everyone = await client.get("/admin/users", headers=admin)
    assert {user["id"] for user in everyone.json()["items"]} == {admin_id, user_id}
    assert everyone.json()["next_cursor"] is None


async def test_bad_list_parameters_are_422(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    for name, value in [
        ("limit", "0"),
        ("limit", "101"),
        ("limit", "x"),
        ("cursor", "nope-Xy7"),
        ("active", "maybe-Xy7"),
    ]:
        response = await client.get("/admin/users", params={name: value}, headers=admin)
        assert response.status_code == 422, name
        assert "Xy7" not in response.text


async def test_read_one_user(
    client: httpx.AsyncClient, admin: dict[str, str], user_id: str
) -> None:
    response = await client.get(f"/admin/users/{user_id}", headers=admin)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"id", "username", "role", "is_active", "created_at"}
    assert (body["id"], body["username"], body["role"], body["is_active"]) == (
        user_id,
        USER,
        "user",
        True,
    )


# --- roles ---------------------------------------------------------------------------------


async def test_a_role_change_ends_the_users_sessions(
    client: httpx.AsyncClient, admin: dict[str, str], user_id: str, tokens: dict[str, str]
) -> None:
    response = await client.put(
        f"/admin/users/{user_id}/role", json={"role": "admin"}, headers=admin
    )
    assert response.status_code == 200
    assert response.json()["role"] == "admin"
    await _until_rejected(client, tokens["access_token"])
    assert await _refresh(client, tokens["refresh_token"]) == 401
    # A new login carries the new role's scopes.
    assert (await login(client)).json()["scope"] == "admin profile"


async def test_the_same_role_again_is_a_no_op_that_ends_nothing(
    caplog: pytest.LogCaptureFixture,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    user_id: str,
    tokens: dict[str, str],
) -> None:
    response = await client.put(
        f"/admin/users/{user_id}/role", json={"role": "user"}, headers=admin
    )
    assert response.status_code == 200
    assert response.json()["role"] == "user"
    assert await _accepted(client, tokens["access_token"])
    assert await _refresh(client, tokens["refresh_token"]) == 200
    assert not [event for event in _audit(caplog) if event[0] == "role_changed"]


async def test_a_bad_role_body_is_422(
    client: httpx.AsyncClient, admin: dict[str, str], user_id: str
) -> None:
    path = f"/admin/users/{user_id}/role"
    for body in ({"role": "root"}, {"role": "ADMIN"}, {"role": None}, {}, [], "admin"):
        assert (await client.put(path, json=body, headers=admin)).status_code == 422, body
    assert (await client.put(path, headers=admin)).status_code == 422
    assert (await client.put(path, content=b"{", headers=admin)).status_code in (400, 422)
    # Nothing changed.
    assert (await client.get(f"/admin/users/{user_id}", headers=admin)).json()["role"] == "user"


# --- the last admin ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "request_",
    [("PUT", "role", {"role": "user"}), ("POST", "deactivate", None)],
    ids=["demote", "deactivate"],
)
async def test_the_last_admin_cannot_demote_or_deactivate_themselves(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin_id: str,
    admin: dict[str, str],
    request_: tuple[str, str, object],
) -> None:
    method, action, body = request_
    path = f"/admin/users/{admin_id}/{action}"
    response = await client.request(method, path, json=body, headers=admin)
    assert response.status_code == 409
    assert response.json() == {"detail": LAST_ADMIN}
    assert await _active_admins(app) == 1
    # The refused change ended nothing.
    assert (await client.get("/admin/users", headers=admin)).status_code == 200
    # With a second admin, the same request succeeds; then the other is the last one.
    other = await add_user(app, "second-admin@example.com", role=Role.ADMIN)
    assert (await client.request(method, path, json=body, headers=admin)).status_code == 200
    assert await _active_admins(app) == 1
    second = (await login(client, "second-admin@example.com")).json()
    again = await client.request(
        method,
        f"/admin/users/{other}/{action}",
        json=body,
        headers=bearer(second["access_token"]),
    )
    assert again.status_code == 409


async def test_an_inactive_admin_does_not_count(
    app: FastAPI, client: httpx.AsyncClient, admin_id: str, admin: dict[str, str]
) -> None:
    dormant = await add_user(app, "dormant@example.com", role=Role.ADMIN)
    await services_of(app).accounts.set_active(dormant, active=False, client="test")
    response = await client.put(
        f"/admin/users/{admin_id}/role", json={"role": "user"}, headers=admin
    )
    assert response.status_code == 409
    # Demoting the inactive admin leaves the active admins as they were: allowed.
    demote = await client.put(f"/admin/users/{dormant}/role", json={"role": "user"}, headers=admin)
    assert demote.status_code == 200


Change = Callable[[AccountService, str, str], Awaitable[object]]


def _demote(accounts: AccountService, target: str, actor: str) -> Awaitable[object]:
    return accounts.set_role(target, Role.USER, client="test", actor=actor)


def _deactivate(accounts: AccountService, target: str, actor: str) -> Awaitable[object]:
    return accounts.set_active(target, active=False, client="test", actor=actor)


@pytest.mark.parametrize(
    ("first_change", "second_change"),
    [(_demote, _demote), (_deactivate, _deactivate), (_demote, _deactivate)],
    ids=["demote-demote", "deactivate-deactivate", "demote-deactivate"],
)
async def test_two_admins_removing_each_other_at_once_leave_one_admin(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch, first_change: Change, second_change: Change
) -> None:
    """The first change is held after it read the admins it counts, before it writes; the
    second starts then. Counting without a lock, it would see two admins too, and both would
    succeed. Locked (users/repository.py: row locks in PostgreSQL, the write lock in
    SQLite), the second waits for the first to commit, then counts one admin and refuses."""
    a = await add_user(app, "a@example.com", role=Role.ADMIN)
    b = await add_user(app, "b@example.com", role=Role.ADMIN)
    accounts = services_of(app).accounts
    counted, release = asyncio.Event(), asyncio.Event()
    lock_admins = repository._lock_admins

    async def held_after_counting(session: AsyncSession, user_id: uuid.UUID) -> list[uuid.UUID]:
        admins = await lock_admins(session, user_id)
        if not counted.is_set():
            counted.set()
            await release.wait()
        return admins

    monkeypatch.setattr(repository, "_lock_admins", held_after_counting)
    first = asyncio.create_task(first_change(accounts, b, a))
    await asyncio.wait_for(counted.wait(), timeout=10)
    second = asyncio.create_task(second_change(accounts, a, b))
    # Time enough for an unlocked second change to finish while the first is held.
    done, _ = await asyncio.wait({second}, timeout=0.5)
    assert not done, "the second change did not wait for the first one's lock"
    release.set()
    outcome = await asyncio.gather(first, second, return_exceptions=True)
    assert not isinstance(outcome[0], BaseException), outcome
    assert isinstance(outcome[1], LastAdminError), outcome
    assert await _active_admins(app) == 1


# --- deactivation and sessions --------------------------------------------------------------


async def test_deactivate_then_reactivate(
    client: httpx.AsyncClient, admin: dict[str, str], user_id: str, tokens: dict[str, str]
) -> None:
    response = await client.post(f"/admin/users/{user_id}/deactivate", headers=admin)
    assert response.status_code == 200
    assert response.json()["is_active"] is False
    await _until_rejected(client, tokens["access_token"])
    assert await _refresh(client, tokens["refresh_token"]) == 401
    assert (await login(client)).status_code == 400
    # Again: a no-op.
    assert (await client.post(f"/admin/users/{user_id}/deactivate", headers=admin)).json()[
        "is_active"
    ] is False
    response = await client.post(f"/admin/users/{user_id}/reactivate", headers=admin)
    assert response.status_code == 200
    assert response.json()["is_active"] is True
    assert (await login(client)).status_code == 200
    # The old session stays ended.
    assert await _refresh(client, tokens["refresh_token"]) == 401


async def test_end_sessions_ends_every_session_but_not_the_account(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    user_id: str,
    tokens: dict[str, str],
) -> None:
    other = (await login(client)).json()
    await add_user(app, "bob@example.com")
    bob = (await login(client, "bob@example.com")).json()
    response = await client.delete(f"/admin/users/{user_id}/sessions", headers=admin)
    assert response.status_code == 204
    assert response.content == b""
    for pair in (tokens, other):
        await _until_rejected(client, pair["access_token"])
        assert await _refresh(client, pair["refresh_token"]) == 401
    assert await _accepted(client, bob["access_token"])
    assert (await login(client)).status_code == 200


# --- audit ---------------------------------------------------------------------------------


async def test_every_admin_action_is_audited_with_the_acting_admin(
    caplog: pytest.LogCaptureFixture,
    client: httpx.AsyncClient,
    admin_id: str,
    admin: dict[str, str],
    user_id: str,
) -> None:
    caplog.clear()
    await client.get("/admin/users", headers=admin)
    await client.get(f"/admin/users/{user_id}", headers=admin)
    await client.put(f"/admin/users/{user_id}/role", json={"role": "admin"}, headers=admin)
    await client.post(f"/admin/users/{user_id}/deactivate", headers=admin)
    await client.post(f"/admin/users/{user_id}/reactivate", headers=admin)
    await client.delete(f"/admin/users/{user_id}/sessions", headers=admin)
    await client.put(f"/admin/users/{user_id}/role", json={"role": "user"}, headers=admin)
    await client.put(f"/admin/users/{admin_id}/role", json={"role": "user"}, headers=admin)
    assert _audit(caplog) == [
        ("users_listed", None, admin_id, None),
        ("user_viewed", user_id, admin_id, None),
        ("role_changed", user_id, admin_id, "user->admin"),
        ("sessions_revoked", user_id, admin_id, "role_changed"),
        ("user_deactivated", user_id, admin_id, None),
        ("sessions_revoked", user_id, admin_id, "deactivated"),
        ("user_reactivated", user_id, admin_id, None),
        ("sessions_revoked", user_id, admin_id, "admin"),
        ("role_changed", user_id, admin_id, "admin->user"),
        ("sessions_revoked", user_id, admin_id, "role_changed"),
        ("account_change_refused", admin_id, admin_id, "last_admin"),
    ]
    for record in caplog.records:
        if record.name == AUDIT_LOGGER:
            assert record.client == "127.0.0.1"  # type: ignore[attr-defined]
            assert "example.com" not in repr(vars(record))
            assert record.levelno == logging.INFO


# --- OpenAPI -------------------------------------------------------------------------------


async def test_openapi_documents_the_admin_routes(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    (scheme,) = schema["components"]["securitySchemes"]
    expected = {
        ("get", "/admin/users"): {"200", "401", "403", "422", "503"},
        ("get", "/admin/users/{user_id}"): {"200", "401", "403", "404", "422", "503"},
        ("put", "/admin/users/{user_id}/role"): {"200", "401", "403", "404", "409", "422"},
        ("post", "/admin/users/{user_id}/deactivate"): {"200", "401", "403", "404", "409"},
        ("post", "/admin/users/{user_id}/reactivate"): {"200", "401", "403", "404"},
        ("delete", "/admin/users/{user_id}/sessions"): {"204", "401", "403", "404"},
    }
    for (method, path), codes in expected.items():
        operation = schema["paths"][path][method]
        assert operation["security"] == [{scheme: ["admin"]}], path
        assert codes <= set(operation["responses"]), (path, set(operation["responses"]))
