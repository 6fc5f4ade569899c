"""Cookie authentication: HttpOnly token cookies, and a CSRF token for unsafe requests.

The browser client talks to https://test: like a browser, httpx sends Secure cookies over https
only. It also sends `Sec-Fetch-Site: same-origin`, as a browser does for the service's own
pages' requests.
"""

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from {{ cookiecutter.package_name }}.auth.dependencies import CurrentClaims
from {{ cookiecutter.package_name }}.config import SettingsError, load_settings

from conftest import PASSWORD, add_user, bearer, login, make_settings, running

ACCESS = "__Host-access_token"
REFRESH = "__Secure-refresh_token"
CSRF = "__Host-csrf_token"
UNSAFE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}
FRONT_END = "https://app.example.com"


def browser_for(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="https://test", headers=SAME_ORIGIN
    )


@pytest.fixture
async def browser(app: FastAPI, user_id: str) -> AsyncIterator[httpx.AsyncClient]:
    """A logged-in browser: the cookies from /auth/login are in its jar."""

    @app.api_route("/things", methods=list(UNSAFE_METHODS))
    async def change_things(claims: CurrentClaims) -> dict[str, str]:
        return {"user_id": claims.user_id}

    async with browser_for(app) as http:
        assert (await login(http)).status_code == 200
        yield http


def set_cookies(response: httpx.Response) -> dict[str, list[str]]:
    """Each Set-Cookie of the response: name -> its attributes, lower-cased, value dropped."""
    cookies = {}
    for header in response.headers.get_list("set-cookie"):
        name_value, *attributes = (part.strip() for part in header.split(";"))
        cookies[name_value.partition("=")[0]] = sorted(part.lower() for part in attributes)
    return cookies


def cookie_of(refresh_token: str) -> str:
    return f"{REFRESH}={refresh_token}"


def csrf(browser: httpx.AsyncClient) -> dict[str, str]:
    return {"X-CSRF-Token": browser.cookies[CSRF]}


async def test_login_sets_three_locked_down_cookies(app: FastAPI, user_id: str) -> None:
    async with browser_for(app) as http:
        response = await login(http)
    assert response.status_code == 200
    minutes = app.state.services.settings.access_token_seconds
    # The refresh cookie lives as long as an unused refresh token: the idle timeout.
    idle = app.state.services.settings.refresh_idle_seconds
    assert set_cookies(response) == {
        ACCESS: sorted(["httponly", f"max-age={minutes}", "path=/", "samesite=strict", "secure"]),
        REFRESH: sorted(["httponly", f"max-age={idle}", "path=/auth", "samesite=strict", "secure"]),
        # Not HttpOnly: the page's script reads it to send it back as X-CSRF-Token.
        CSRF: sorted([f"max-age={idle}", "path=/", "samesite=strict", "secure"]),
    }
    # Script on the page cannot read the HttpOnly cookies: nor can it read the body's tokens.
    assert response.json() == {"token_type": "bearer", "expires_in": minutes, "scope": "profile"}
    assert response.headers["x-csrf-token"] == response.cookies[CSRF]


async def post_login(app: FastAPI, headers: list[tuple[str, str]]) -> httpx.Response:
    """A login sent with exactly `headers` besides the form (no Sec-Fetch-Site of its own)."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://test") as http:
        response = await http.post(
            "/auth/login",
            data={"grant_type": "password", "username": "alice@example.com", "password": PASSWORD},
            headers=headers,
        )
    assert response.status_code == 200, response.text
    return response


def assert_tokens_in_body_only(response: httpx.Response) -> None:
    assert "set-cookie" not in response.headers
    assert "x-csrf-token" not in response.headers
    assert set(response.json()) == {
        "access_token",
        "refresh_token",
        "token_type",
        "expires_in",
        "scope",
    }


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param([("Sec-Fetch-Site", "cross-site")], id="another site"),
        # A sibling subdomain is the same site, but not the same origin: it could toss its
        # own session into the victim's browser.
        pytest.param([("Sec-Fetch-Site", "same-site")], id="a sibling subdomain"),
        pytest.param(
            [("Sec-Fetch-Site", "same-site"), ("Origin", "https://evil.example.com")],
            id="an origin not allowed",
        ),
        pytest.param([("Origin", "null")], id="an opaque origin"),
        pytest.param(
            [("Sec-Fetch-Site", "same-origin"), ("Sec-Fetch-Site", "cross-site")],
            id="two Sec-Fetch-Site headers",
        ),
        # Not a browser (curl, a mobile app, a server): it wants the tokens in the body, and
        # a browser too old to send these headers must not be logged in by another site.
        pytest.param([], id="no browser headers"),
    ],
)
async def test_logins_from_other_origins_set_no_cookies(
    app: FastAPI, user_id: str, headers: list[tuple[str, str]]
) -> None:
    assert_tokens_in_body_only(await post_login(app, headers))


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param([("Sec-Fetch-Site", "same-origin")], id="the service's own page"),
        pytest.param([("Sec-Fetch-Site", "none")], id="started by the user"),
    ],
)
async def test_logins_from_the_own_origin_set_cookies(
    app: FastAPI, user_id: str, headers: list[tuple[str, str]]
) -> None:
    response = await post_login(app, headers)
    assert set(set_cookies(response)) == {ACCESS, REFRESH, CSRF}
    assert "access_token" not in response.json()


async def test_an_allowed_origin_gets_cookies(database_url: str) -> None:
    settings = make_settings(database_url, cookie_allowed_origins=f" {FRONT_END} ,https://x.org")
    async with running(settings) as (app, _):
        await add_user(app, "alice@example.com")
        allowed = await post_login(app, [("Sec-Fetch-Site", "same-site"), ("Origin", FRONT_END)])
        assert set(set_cookies(allowed)) == {ACCESS, REFRESH, CSRF}
        # Exact origins only: another port or scheme of the same host is another origin.
        for origin in (f"{FRONT_END}:8443", "http://app.example.com", f"{FRONT_END}.evil.org"):
            refused = await post_login(app, [("Sec-Fetch-Site", "same-site"), ("Origin", origin)])
            assert_tokens_in_body_only(refused)


@pytest.mark.parametrize(
    "value", ["https://app.example.com/", "app.example.com", "https://u@app.example.com", "*"]
)
def test_allowed_origins_must_be_exact_origins(value: str) -> None:
    with pytest.raises(SettingsError, match=r"COOKIE_ALLOWED_ORIGINS .* is not an origin"):
        load_settings(_env_file=None, secret_key="k" * 64, cookie_allowed_origins=value)


async def test_tokens_can_also_be_kept_in_the_body(database_url: str) -> None:
    async with running(make_settings(database_url, cookie_tokens_in_body=True)) as (app, _):
        await add_user(app, "alice@example.com")
        response = await post_login(app, [("Sec-Fetch-Site", "same-origin")])
    body = response.json()
    assert response.cookies[ACCESS] == body["access_token"]
    assert response.cookies[REFRESH] == body["refresh_token"]


async def test_the_openapi_schema_describes_both_answers(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    schemas = document["components"]["schemas"]
    for path in ("/auth/login", "/auth/refresh"):
        content = document["paths"][path]["post"]["responses"]["200"]["content"]
        refs = {option["$ref"] for option in content["application/json"]["schema"]["anyOf"]}
        assert refs == {
            "#/components/schemas/TokenResponse",
            "#/components/schemas/CookieTokenResponse",
        }
    cookie_answer = schemas["CookieTokenResponse"]["properties"]
    assert set(cookie_answer) == {"token_type", "expires_in", "scope"}
    assert "access_token" in schemas["TokenResponse"]["required"]


async def test_the_refresh_grant_sets_new_cookies_like_auth_refresh(
    app: FastAPI, user_id: str
) -> None:
    async with browser_for(app) as http:
        assert (await login(http)).status_code == 200
        old_access = http.cookies[ACCESS]
        form = {"grant_type": "refresh_token", "refresh_token": http.cookies[REFRESH]}
        response = await http.post("/auth/login", data=form)
        assert response.status_code == 200
        assert set(set_cookies(response)) == {ACCESS, REFRESH, CSRF}
        assert http.cookies[ACCESS] != old_access
        # Set as cookies, so kept out of the body (COOKIE_TOKENS_IN_BODY is off).
        assert "access_token" not in response.json()


async def test_the_refresh_cookie_path_follows_the_root_path(app: FastAPI, user_id: str) -> None:
    # Behind a proxy that serves the app under /api, the browser sees /api/auth/refresh.
    transport = httpx.ASGITransport(app=app, root_path="/api")
    async with httpx.AsyncClient(
        transport=transport, base_url="https://test/api", headers=SAME_ORIGIN
    ) as http:
        response = await login(http)
        assert "path=/api/auth" in set_cookies(response)[REFRESH]
        assert (await http.post("/auth/refresh", headers=csrf(http))).status_code == 200


async def test_safe_requests_need_only_the_cookie(browser: httpx.AsyncClient, user_id: str) -> None:
    response = await browser.get("/protected")
    assert response.status_code == 200
    assert response.json() == {"user_id": user_id}
    assert (await browser.get("/users/me")).status_code == 200


async def test_the_refresh_cookie_is_sent_to_the_refresh_path_only(
    browser: httpx.AsyncClient,
) -> None:
    paths = {cookie.name: cookie.path for cookie in browser.cookies.jar}
    assert paths == {ACCESS: "/", REFRESH: "/auth", CSRF: "/"}


@pytest.mark.parametrize("method", UNSAFE_METHODS)
async def test_unsafe_requests_need_the_csrf_header(
    browser: httpx.AsyncClient, method: str, user_id: str
) -> None:
    refused = await browser.request(method, "/things")
    assert refused.status_code == 403
    assert refused.json() == {"detail": "Missing or invalid CSRF token"}
    assert "www-authenticate" not in refused.headers
    wrong = await browser.request(method, "/things", headers={"X-CSRF-Token": "x" * 43})
    assert wrong.status_code == 403
    accepted = await browser.request(method, "/things", headers=csrf(browser))
    assert accepted.status_code == 200
    assert accepted.json() == {"user_id": user_id}


async def test_the_csrf_token_is_bound_to_its_session(
    app: FastAPI, browser: httpx.AsyncClient
) -> None:
    async with browser_for(app) as other:
        await login(other)
        assert csrf(other) != csrf(browser)
        assert (await browser.post("/things", headers=csrf(other))).status_code == 403


async def test_two_csrf_headers_are_refused(browser: httpx.AsyncClient) -> None:
    token = browser.cookies[CSRF]
    headers = [("X-CSRF-Token", token), ("X-CSRF-Token", token)]
    assert (await browser.post("/things", headers=headers)).status_code == 403


async def test_an_authorization_header_wins_over_the_cookie(
    browser: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    # A bad header is not rescued by the good cookie...
    response = await browser.get("/protected", headers=bearer("not.a.token"))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    # ...and a good header needs no CSRF token, even with the cookies present: a browser
    # never adds an Authorization header by itself, so another site cannot forge one.
    assert (
        await browser.post("/things", headers=bearer(tokens["access_token"]))
    ).status_code == 200


async def test_a_cookie_named_twice_is_refused(
    app: FastAPI, browser: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    async with browser_for(app) as http:
        cookie = f"{ACCESS}={tokens['access_token']}; {ACCESS}={tokens['access_token']}"
        response = await http.get("/protected", headers={"Cookie": cookie})
    assert response.status_code == 401


async def test_a_bad_cookie_is_a_401_not_a_500(app: FastAPI, user_id: str) -> None:
    async with browser_for(app) as http:
        for value in (b"garbage", b"a.b.c", "\u00e9t\u00e9".encode("latin-1")):
            response = await http.get(
                "/protected", headers={"Cookie": ACCESS.encode() + b"=" + value}
            )
            assert response.status_code == 401
            assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
        no_cookie = await http.get("/protected", headers={"Cookie": f"{ACCESS}="})
        assert no_cookie.headers["www-authenticate"] == "Bearer"


async def test_refresh_by_cookie_needs_the_csrf_header(browser: httpx.AsyncClient) -> None:
    before = dict(browser.cookies)
    refused = await browser.post("/auth/refresh")
    assert refused.status_code == 403
    response = await browser.post("/auth/refresh", headers=csrf(browser))
    assert response.status_code == 200
    assert set(response.json()) == {"token_type", "expires_in", "scope"}
    assert browser.cookies[ACCESS] != before[ACCESS]
    assert browser.cookies[REFRESH] != before[REFRESH]
    # Same session, same CSRF token: the page need not learn a new one.
    assert browser.cookies[CSRF] == before[CSRF]
    assert (await browser.post("/things", headers=csrf(browser))).status_code == 200


async def test_refresh_without_a_body_or_cookie_is_a_401(app: FastAPI) -> None:
    async with browser_for(app) as http:
        response = await http.post("/auth/refresh")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


async def test_a_refresh_token_in_the_body_wins_and_needs_no_csrf(
    browser: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    cookie_session_csrf = browser.cookies[CSRF]
    response = await browser.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert response.status_code == 200
    # The body's session (from the `tokens` login), not the cookie's, was refreshed: its
    # token is spent, and the browser now holds that session's cookies.
    assert browser.cookies[CSRF] != cookie_session_csrf
    spent = await browser.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert spent.status_code == 401


async def test_a_replayed_refresh_cookie_ends_the_session(browser: httpx.AsyncClient) -> None:
    spent = browser.cookies[REFRESH]
    headers = csrf(browser)
    assert (await browser.post("/auth/refresh", headers=headers)).status_code == 200
    replay = await browser.post("/auth/refresh", headers=headers | {"Cookie": f"{REFRESH}={spent}"})
    assert replay.status_code == 401
    # Reuse detection works through cookies too: the legitimate successor is dead as well.
    assert (await browser.post("/auth/refresh", headers=headers)).status_code == 401
    assert (await browser.get("/protected")).status_code == 401


async def test_logout_needs_csrf_and_expires_the_cookies(browser: httpx.AsyncClient) -> None:
    access = browser.cookies[ACCESS]
    assert (await browser.post("/auth/logout")).status_code == 403
    response = await browser.post("/auth/logout", headers=csrf(browser))
    assert response.status_code == 204
    expired = set_cookies(response)
    assert set(expired) == {ACCESS, REFRESH, CSRF}
    assert all("max-age=0" in attributes for attributes in expired.values())
    assert "path=/auth" in expired[REFRESH]
    assert len(browser.cookies.jar) == 0
    # The session is over server-side too, not just forgotten by this browser.
    replay = await browser.get("/protected", headers={"Cookie": f"{ACCESS}={access}"})
    assert replay.status_code == 401


async def test_the_refresh_cookie_alone_is_enough_to_log_out(
    browser: httpx.AsyncClient,
) -> None:
    """An expired access cookie must not keep the session alive through its refresh cookie:
    the refresh cookie reaches /auth/logout (path /auth), and names the session to end."""
    headers = csrf(browser)
    refresh = browser.cookies[REFRESH]
    browser.cookies.delete(ACCESS)  # what the browser does once the access cookie expires
    assert (await browser.post("/auth/logout")).status_code == 403  # still needs CSRF
    response = await browser.post("/auth/logout", headers=headers)
    assert response.status_code == 204
    assert set(set_cookies(response)) == {ACCESS, REFRESH, CSRF}
    replay = await browser.post("/auth/refresh", headers=headers | {"Cookie": cookie_of(refresh)})
    assert replay.status_code == 401


async def test_an_expired_access_cookie_falls_back_to_the_refresh_cookie(
    app: FastAPI, browser: httpx.AsyncClient
) -> None:
    from conftest import access_claims, sign

    headers = csrf(browser)
    refresh = browser.cookies[REFRESH]
    # An access cookie that has expired, as a browser with a stale jar may still send it.
    expired = sign(app, access_claims("someone", iat=1_000_000, exp=1_000_060))
    cookie = f"{ACCESS}={expired}; {REFRESH}={refresh}"
    response = await browser.post("/auth/logout", headers=headers | {"Cookie": cookie})
    assert response.status_code == 204
    replay = await browser.post("/auth/refresh", headers=headers | {"Cookie": cookie_of(refresh)})
    assert replay.status_code == 401


async def test_logout_without_any_session_cookie_is_401(app: FastAPI, user_id: str) -> None:
    async with browser_for(app) as http:
        response = await http.post("/auth/logout")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_header_clients_are_unaffected(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    headers = bearer(tokens["access_token"])
    assert (await client.get("/protected", headers=headers)).status_code == 200
    assert (await client.post("/auth/logout", headers=headers)).status_code == 204


def test_cookie_auth_needs_a_secret_key_even_with_a_key_pair(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(SettingsError, match="SECRET_KEY is required for cookie authentication"):
        load_settings(
            _env_file=None, jwt_algorithm="EdDSA", private_key_path=tmp_path / "private.pem"
        )
