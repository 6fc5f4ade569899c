"""Hostile request bodies shared by the tests of every endpoint that takes them: a secret no
answer may repeat, and usernames no account can have."""

import secrets
from collections.abc import Awaitable, Callable

import httpx

from conftest import KNOWN_SECRETS, bearer

# Distinctive, so finding any 24 characters of it in an answer means it was echoed.
SECRET = "s3cr3t-" + secrets.token_hex(2100)
KNOWN_SECRETS.add(SECRET)
assert len(SECRET) > 4103
PUBLIC_FIELDS = {"type", "loc", "msg", "ctx"}

# "\ufb03" (the ffi ligature) is one character that NFKC turns into three.
LIGATURE = "\ufb03"
IMPOSSIBLE_USERNAMES = {
    # PostgreSQL refuses NUL in text: looked up, it was a 503.
    "nul": "alice\0@example.com",
    # 15 characters, but 270 once normalised: registering it was a 503 on PostgreSQL (longer
    # than the column) and a 201 on SQLite, which stores anything.
    "nfkc-too-long": "\ufdfa" * 15,
    "nfkc-one-too-long": LIGATURE * 84 + "abc",
}

Send = Callable[[httpx.AsyncClient, str], Awaitable[httpx.Response]]


def json_request(path: str, body: object, *, signed_in: bool = False) -> Send:
    async def send(client: httpx.AsyncClient, access_token: str) -> httpx.Response:
        headers = bearer(access_token) if signed_in else {}
        return await client.post(path, json=body, headers=headers)

    return send


def raw_request(path: str, body: bytes, *, signed_in: bool = False) -> Send:
    async def send(client: httpx.AsyncClient, access_token: str) -> httpx.Response:
        headers = {"Content-Type": "application/json"}
        if signed_in:
            headers |= bearer(access_token)
        return await client.post(path, content=body, headers=headers)

    return send


def assert_refused_silently(response: httpx.Response) -> None:
    """A 422 that names the rule and the field, and repeats nothing of SECRET."""
    assert response.status_code == 422, response.text
    for start in range(0, 64, 24):
        assert SECRET[start : start + 24] not in response.text
    for error in response.json()["detail"]:
        assert set(error) <= PUBLIC_FIELDS, error
        assert {"type", "loc", "msg"} <= set(error), error
