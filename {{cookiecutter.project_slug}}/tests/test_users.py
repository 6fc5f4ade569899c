"""GET /users/me: the user behind the token, loaded from the database."""

import uuid

import httpx
from fastapi import FastAPI
from sqlalchemy import delete, update

from {{ cookiecutter.package_name }}.users.models import User
from {{ cookiecutter.package_name }}.users.schemas import UserPublic
from {{ cookiecutter.package_name }}.users.snapshot import UserSnapshot

from conftest import bearer


async def test_me_returns_the_public_user(
    client: httpx.AsyncClient, tokens: dict[str, str], user_id: str
) -> None:
    response = await client.get("/users/me", headers=bearer(tokens["access_token"]))
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == user_id
    assert body["username"] == "alice@example.com"
    assert body["is_active"] is True
    assert "password" not in response.text
    assert "argon2" not in response.text


async def test_me_sends_exactly_what_user_public_would(
    app: FastAPI, client: httpx.AsyncClient, tokens: dict[str, str], user_id: str
) -> None:
    # /users/me sends the snapshot's prerendered JSON instead of letting FastAPI validate the
    # return value: the body must be UserPublic's, byte for byte, and the schema unchanged.
    async with app.state.services.sessionmaker() as db:
        user = await db.get(User, uuid.UUID(user_id))
    assert user is not None
    expected = UserPublic.model_validate(user)
    for _ in range(2):  # the load, then the cached snapshot
        response = await client.get("/users/me", headers=bearer(tokens["access_token"]))
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.content == expected.model_dump_json().encode()
        assert response.json() == expected.model_dump(mode="json")
    # A snapshot built without its JSON renders the same.
    bare = UserSnapshot(user.id, user.username, user.is_active, user.role, user.created_at)
    assert bare.public() == expected.model_dump_json().encode()
    schema = (await client.get("/openapi.json")).json()
    ok = schema["paths"]["/users/me"]["get"]["responses"]["200"]["content"]["application/json"]
    assert ok["schema"] == {"$ref": "#/components/schemas/UserPublic"}
    assert set(schema["components"]["schemas"]["UserPublic"]["properties"]) == {
        "id",
        "username",
        "is_active",
        "created_at",
    }


async def test_me_needs_a_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/users/me")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


async def test_a_deleted_user_gets_401(
    app: FastAPI, client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    async with app.state.services.sessionmaker() as db:
        await db.execute(delete(User))
        await db.commit()
    assert (
        await client.get("/users/me", headers=bearer(tokens["access_token"]))
    ).status_code == 401


async def test_a_deactivated_user_cannot_refresh(
    app: FastAPI, client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    async with app.state.services.sessionmaker() as db:
        await db.execute(update(User).values(is_active=False))
        await db.commit()
    assert (
        await client.get("/users/me", headers=bearer(tokens["access_token"]))
    ).status_code == 401
    refresh = await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refresh.status_code == 401


async def test_passwords_are_stored_as_argon2id(app: FastAPI, user_id: str) -> None:
    async with app.state.services.sessionmaker() as db:
        user = await db.get(User, uuid.UUID(user_id))
    assert user is not None
    assert user.password_hash.startswith("$argon2id$")


async def test_swagger_authorize_is_wired_to_the_login_form(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    scheme = next(iter(schema["components"]["securitySchemes"].values()))
    assert scheme["type"] == "oauth2"
    assert scheme["flows"]["password"]["tokenUrl"] == "/auth/login"
    assert schema["paths"]["/users/me"]["get"]["security"]
    assert "401" in schema["paths"]["/users/me"]["get"]["responses"]
