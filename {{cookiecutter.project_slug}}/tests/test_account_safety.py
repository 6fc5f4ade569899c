"""Account safety: revoke-everything on logout-all, password change and deactivation; the
session's absolute lifetime and idle timeout; throttling per client address."""

import asyncio
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import jwt
import pytest
from fastapi import FastAPI
from typer.testing import CliRunner

from {{ cookiecutter.package_name }}.auth.client_address import resolve_client_address
from {{ cookiecutter.package_name }}.cli import app as cli_app
from {{ cookiecutter.package_name }}.config import Settings, SettingsError, get_settings, load_settings
from {{ cookiecutter.package_name }}.main import create_app

from conftest import (
    KNOWN_SECRETS,
    PASSWORD,
    SECRET_KEY,
    add_user,
    bearer,
    client_for,
    login,
    make_settings,
    sign,
)
from store_{{ cookiecutter.token_store }} import STORE_SETTINGS

NEW_PASSWORD = "a brand new passphrase 42"
KNOWN_SECRETS.add(NEW_PASSWORD)
HOUR = 3600
DAY = 86400
# A URL of this project's database that these settings-only tests never connect to.
UNUSED_DATABASE: str = Settings.model_fields["database_url"].default


async def _refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/auth/refresh", json={"refresh_token": token})


async def _is_accepted(client: httpx.AsyncClient, access_token: str) -> bool:
    return (await client.get("/protected", headers=bearer(access_token))).status_code == 200


async def _all_dead(client: httpx.AsyncClient, *pairs: dict[str, str]) -> None:
    for pair in pairs:
        assert not await _is_accepted(client, pair["access_token"])
        assert (await _refresh(client, pair["refresh_token"])).status_code == 401


# --- logout-all --------------------------------------------------------------------------


async def test_logout_all_ends_every_session_of_the_caller(
    app: FastAPI, client: httpx.AsyncClient, user_id: str
) -> None:
    phone, laptop = (await login(client)).json(), (await login(client)).json()
    await add_user(app, "bob")
    bob = (await login(client, "bob")).json()
    response = await client.post("/auth/logout-all", headers=bearer(phone["access_token"]))
    assert response.status_code == 204
    await _all_dead(client, phone, laptop)
    assert await _is_accepted(client, bob["access_token"])
    assert (await login(client)).status_code == 200


async def test_logout_all_needs_an_access_token(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    assert (await client.post("/auth/logout-all")).status_code == 401
    response = await client.post("/auth/logout-all", headers=bearer(tokens["refresh_token"]))
    assert response.status_code == 401
    assert await _is_accepted(client, tokens["access_token"])


# --- set-password and deactivate-user on the command line ---------------------------------

runner = CliRunner()


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str) -> Iterator[None]:
    """The CLI pointed at the database the running test app uses."""
    monkeypatch.chdir(tmp_path)
    for name, value in {
        "SECRET_KEY": SECRET_KEY,
        "JWT_ALGORITHM": "HS256",
        "DATABASE_URL": database_url,
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_KIB": "1024",
        "ARGON2_PARALLELISM": "1",
        # The token store's own settings (Redis' URL and key prefix, the poll interval).
        **{name.upper(): str(value) for name, value in STORE_SETTINGS.items()},
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


async def _cli(*args: str, stdin: str | None = None):
    # In a thread: the command runs its own event loop, as it does from a shell.
    return await asyncio.to_thread(runner.invoke, cli_app, list(args), input=stdin)


async def _until_rejected(client: httpx.AsyncClient, access_token: str) -> None:
    """Another process revoked the session; this worker learns it at its next poll."""
    for _ in range(100):
        if not await _is_accepted(client, access_token):
            return
        await asyncio.sleep(0.02)
    pytest.fail("the access token was still accepted after the revocation poll")


@pytest.mark.usefixtures("cli_env")
async def test_set_password_ends_every_session(client: httpx.AsyncClient, user_id: str) -> None:
    first, second = (await login(client)).json(), (await login(client)).json()
    result = await _cli("set-password", "alice@example.com", "--password-stdin", stdin=NEW_PASSWORD)
    assert result.exit_code == 0, result.output
    assert NEW_PASSWORD not in result.output
    await _until_rejected(client, second["access_token"])
    await _all_dead(client, first, second)
    assert (await login(client)).status_code == 400
    assert (await login(client, password=NEW_PASSWORD)).status_code == 200


@pytest.mark.usefixtures("cli_env")
async def test_set_password_prompts_twice_when_interactive(
    client: httpx.AsyncClient, user_id: str
) -> None:
    result = await _cli("set-password", "ALICE@example.com", stdin=f"{NEW_PASSWORD}\n" * 2)
    assert result.exit_code == 0, result.output
    assert "Repeat for confirmation" in result.output
    assert (await login(client, password=NEW_PASSWORD)).status_code == 200


@pytest.mark.usefixtures("cli_env")
async def test_deactivate_user_ends_every_session_and_blocks_login(
    client: httpx.AsyncClient, user_id: str, tokens: dict[str, str]
) -> None:
    result = await _cli("deactivate-user", "alice@example.com")
    assert result.exit_code == 0, result.output
    await _until_rejected(client, tokens["access_token"])
    await _all_dead(client, tokens)
    assert (await login(client)).status_code == 400


@pytest.mark.usefixtures("cli_env")
async def test_set_role_ends_every_session(client: httpx.AsyncClient, user_id: str) -> None:
    first, second = (await login(client)).json(), (await login(client)).json()
    result = await _cli("set-role", "alice@example.com", "admin")
    assert result.exit_code == 0, result.output
    await _until_rejected(client, second["access_token"])
    await _all_dead(client, first, second)
    assert (await login(client)).json()["scope"] == "admin profile"


@pytest.mark.usefixtures("cli_env")
@pytest.mark.parametrize(
    ("args", "stdin"),
    [
        (("set-password", "nobody@example.com", "--password-stdin"), NEW_PASSWORD),
        (("deactivate-user", "nobody@example.com"), None),
    ],
    ids=["set-password", "deactivate-user"],
)
async def test_an_unknown_user_is_one_line_and_exit_1(
    user_id: str, args: tuple[str, ...], stdin: str | None
) -> None:
    result = await _cli(*args, stdin=stdin)
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == ["Error: no user named 'nobody@example.com'"]


@pytest.mark.usefixtures("cli_env")
async def test_an_empty_new_password_is_refused(client: httpx.AsyncClient, user_id: str) -> None:
    result = await _cli("set-password", "alice@example.com", "--password-stdin", stdin="\n")
    assert result.exit_code == 1
    assert "empty" in result.output
    assert (await login(client)).status_code == 200


async def test_password_change_and_deactivation_are_audited(
    caplog: pytest.LogCaptureFixture, app: FastAPI, user_id: str
) -> None:
    await app.state.services.accounts.set_password("alice@example.com", NEW_PASSWORD, client="cli")
    await app.state.services.accounts.deactivate("alice@example.com", client="cli")
    events = [
        (r.event, r.user_id, getattr(r, "reason", None), r.client)  # type: ignore[attr-defined]
        for r in caplog.records
        if r.name.endswith(".audit")
    ]
    assert events == [
        ("sessions_revoked", user_id, "password_changed", "cli"),
        ("user_deactivated", user_id, None, "cli"),
        ("sessions_revoked", user_id, "deactivated", "cli"),
    ]


# --- absolute lifetime and idle timeout -----------------------------------------------------


@contextmanager
def _clock_set_back(seconds: float) -> Iterator[None]:
    """Everything the service does inside runs `seconds` in the past (tokens it issues, session
    rows it writes); PyJWT still judges them by the real clock, like a later request would."""
    real = time.time
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(time, "time", lambda: real() - seconds)
        yield


def _claims(token: str) -> dict[str, int]:
    return jwt.decode(token, options={"verify_signature": False})


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(
        database_url, refresh_token_days=2, refresh_idle_hours=24, login_max_failures=100
    )


async def test_a_refresh_token_unused_past_the_idle_timeout_is_dead(
    client: httpx.AsyncClient, user_id: str
) -> None:
    with _clock_set_back(DAY + 60):
        stale = (await login(client)).json()
    assert (await _refresh(client, stale["refresh_token"])).status_code == 401


async def test_each_refresh_restarts_the_idle_timeout(
    client: httpx.AsyncClient, user_id: str
) -> None:
    with _clock_set_back(20 * HOUR):
        first = (await login(client)).json()
    assert _claims(first["refresh_token"])["exp"] - time.time() < 5 * HOUR
    response = await _refresh(client, first["refresh_token"])
    assert response.status_code == 200
    fresh = _claims(response.json()["refresh_token"])
    assert abs(fresh["exp"] - (time.time() + DAY)) < 60


async def test_refreshing_never_extends_a_session_past_its_absolute_end(
    database_url: str,
) -> None:
    # Idle timeout = whole session here, so a chain of refreshes can start 2 days back.
    application = create_app(
        make_settings(database_url, refresh_token_days=2, refresh_idle_hours=48)
    )
    async with application.router.lifespan_context(application), client_for(application) as http:
        await add_user(application, "alice@example.com")
        logged_in = time.time() - 2 * DAY + HOUR
        with _clock_set_back(2 * DAY - HOUR):
            pair = (await login(http)).json()
        with _clock_set_back(DAY):
            pair = (await _refresh(http, pair["refresh_token"])).json()
        pair = (await _refresh(http, pair["refresh_token"])).json()
        claims = _claims(pair["refresh_token"])
        assert claims["auth_time"] == pytest.approx(logged_in, abs=5)
        assert claims["exp"] == claims["auth_time"] + 2 * DAY
        assert claims["exp"] - time.time() < HOUR + 5
        assert await _is_accepted(http, pair["access_token"])


async def test_a_session_past_its_absolute_end_cannot_refresh(
    client: httpx.AsyncClient, user_id: str
) -> None:
    with _clock_set_back(2 * DAY + 60):
        old = (await login(client)).json()
    assert (await _refresh(client, old["refresh_token"])).status_code == 401


def _resign(app: FastAPI, token: str, **changes: object) -> str:
    claims: dict[str, object] = {**_claims(token), **changes}
    payload = {name: value for name, value in claims.items() if value is not None}
    return sign(app, payload)


@pytest.mark.parametrize(
    "auth_time",
    [None, "yesterday", True, "future", "too-old"],
    ids=["missing", "string", "bool", "after-iat", "session-already-over"],
)
async def test_a_refresh_token_with_a_doctored_auth_time_is_refused(
    app: FastAPI, client: httpx.AsyncClient, tokens: dict[str, str], auth_time: object
) -> None:
    iat = _claims(tokens["refresh_token"])["iat"]
    value = {"future": iat + 60, "too-old": iat - 2 * DAY}.get(str(auth_time), auth_time)
    forged = _resign(app, tokens["refresh_token"], auth_time=value)
    assert (await _refresh(client, forged)).status_code == 401
    # The same re-signing with the true auth_time works: only the doctored claim was refused.
    assert (await _refresh(client, _resign(app, tokens["refresh_token"]))).status_code == 200


@pytest.mark.parametrize(
    ("overrides", "expected_hours"),
    [({"refresh_token_days": 14}, 168), ({"refresh_token_days": 2}, 48), ({}, 168)],
)
def test_the_idle_timeout_defaults_to_a_week_or_the_session(
    overrides: dict[str, object], expected_hours: int
) -> None:
    settings = make_settings(UNUSED_DATABASE, **{"refresh_token_days": 30} | overrides)
    assert settings.refresh_idle_seconds == expected_hours * HOUR


def test_an_idle_timeout_longer_than_the_session_is_refused() -> None:
    with pytest.raises(SettingsError, match="REFRESH_IDLE_HOURS"):
        load_settings(
            _env_file=None,
            secret_key=SECRET_KEY,
            jwt_algorithm="HS256",
            refresh_token_days=1,
            refresh_idle_hours=25,
        )


# --- throttling per client address ---------------------------------------------------------


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "expected"),
    [
        ("198.51.100.9", ["203.0.113.5"], "198.51.100.9"),  # peer is no proxy of ours
        ("10.0.0.2", ["203.0.113.5"], "203.0.113.5"),
        ("10.0.0.2", ["6.6.6.6, 203.0.113.5, 10.0.0.7"], "203.0.113.5"),  # forged left part
        ("10.0.0.2", ["6.6.6.6", "203.0.113.5"], "203.0.113.5"),  # two header lines
        ("10.0.0.2", ["203.0.113.5:4711"], "203.0.113.5"),
        ("10.0.0.2", ["[2001:db8::1]:443"], "2001:db8::1"),
        ("10.0.0.2", ["203.0.113.5, not-an-ip"], "10.0.0.2"),  # garbage: stop at our proxy
        ("10.0.0.2", [], "10.0.0.2"),
        ("10.0.0.2", ["10.0.0.3"], "10.0.0.3"),  # every hop is ours
        # No peer address: a Unix socket, which only our own proxy can reach.
        (None, ["203.0.113.5"], "203.0.113.5"),
        (None, ["6.6.6.6, 203.0.113.5"], "203.0.113.5"),
        (None, ["10.0.0.3"], "10.0.0.3"),
        (None, [], None),
        (None, ["not-an-ip"], None),
    ],
)
def test_the_client_address_is_the_rightmost_untrusted_hop(
    peer: str | None, forwarded_for: list[str], expected: str | None
) -> None:
    proxies = make_settings(UNUSED_DATABASE, trusted_proxies="10.0.0.0/24").trusted_proxies
    assert resolve_client_address(peer, forwarded_for, proxies) == expected


def test_without_trusted_proxies_x_forwarded_for_is_ignored() -> None:
    assert resolve_client_address("127.0.0.1", ["203.0.113.5"], ()) == "127.0.0.1"


def test_trusted_proxies_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8,::1")
    settings = Settings(_env_file=None, secret_key=SECRET_KEY, jwt_algorithm="HS256")  # type: ignore[call-arg]
    assert [str(net) for net in settings.trusted_proxies] == [
        "127.0.0.1/32",
        "10.0.0.0/8",
        "::1/128",
    ]
    monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.0/8,proxy.local")
    with pytest.raises(SettingsError, match=r"TRUSTED_PROXIES 'proxy\.local'"):
        load_settings(_env_file=None, secret_key=SECRET_KEY, jwt_algorithm="HS256")


class TestPerAddressThrottle:
    """The ASGI test client connects from 127.0.0.1, which these tests trust as a proxy."""

    MAX = 3
    ACCOUNT_MAX = 4

    @pytest.fixture
    def settings(self, database_url: str) -> Settings:
        return make_settings(
            database_url,
            login_max_failures=self.ACCOUNT_MAX,
            login_max_failures_per_address=self.MAX,
            trusted_proxies="127.0.0.1",
        )

    @staticmethod
    async def _login_from(
        client: httpx.AsyncClient, forwarded_for: str, username: str, password: str
    ) -> httpx.Response:
        return await client.post(
            "/auth/login",
            data={"grant_type": "password", "username": username, "password": password},
            headers={"X-Forwarded-For": forwarded_for},
        )

    async def _spray(self, client: httpx.AsyncClient, address: str) -> None:
        for _ in range(self.MAX):
            response = await self._login_from(
                client, address, f"{uuid.uuid4().hex}@example.com", "wrong password"
            )
            assert response.status_code == 400

    async def test_one_address_spraying_many_accounts_is_throttled(
        self, caplog: pytest.LogCaptureFixture, client: httpx.AsyncClient, user_id: str
    ) -> None:
        await self._spray(client, "203.0.113.5")
        blocked = await self._login_from(client, "203.0.113.5", "alice@example.com", PASSWORD)
        assert blocked.status_code == 429
        assert "access_token" not in blocked.text
        assert int(blocked.headers["retry-after"]) > 0
        allowed = await self._login_from(client, "203.0.113.6", "alice@example.com", PASSWORD)
        assert allowed.status_code == 200
        throttled = [r for r in caplog.records if getattr(r, "event", "") == "login_throttled"]
        assert [(r.client, r.reason) for r in throttled] == [("203.0.113.5", "address")]  # type: ignore[attr-defined]

    async def test_forged_entries_left_of_the_proxy_do_not_reset_the_count(
        self, client: httpx.AsyncClient, user_id: str
    ) -> None:
        await self._spray(client, "203.0.113.5")
        forged = f"198.51.100.{uuid.uuid4().int % 250}, 203.0.113.5"
        response = await self._login_from(client, forged, "alice@example.com", PASSWORD)
        assert response.status_code == 429

    async def test_address_and_account_lockouts_answer_alike(
        self, client: httpx.AsyncClient, user_id: str
    ) -> None:
        await self._spray(client, "203.0.113.5")
        by_address = await self._login_from(client, "203.0.113.5", "nobody@example.com", "x")
        # One failure from each of several addresses: only the account limit is reached.
        for i in range(self.ACCOUNT_MAX):
            await self._login_from(client, f"198.51.100.{i}", "alice@example.com", "wrong")
        by_account = await self._login_from(client, "198.51.100.99", "alice@example.com", "x")
        assert by_address.status_code == by_account.status_code == 429
        assert by_address.json() == by_account.json()


async def test_without_trusted_proxies_the_socket_peer_is_throttled(database_url: str) -> None:
    throttled = make_settings(database_url, login_max_failures_per_address=2)
    assert throttled.trusted_proxies == ()
    other = create_app(throttled)
    async with other.router.lifespan_context(other), client_for(other) as http:
        for i in range(2):
            await http.post(
                "/auth/login",
                data={
                    "grant_type": "password",
                    "username": f"user{i}",
                    "password": "wrong password",
                },
                headers={"X-Forwarded-For": f"203.0.113.{i}"},
            )
        response = await login(http)
    assert response.status_code == 429


def test_serve_trusts_forwarded_headers_only_from_trusted_proxies(
    monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    import uvicorn

    calls: list[dict[str, object]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: calls.append(kwargs))
    for name, value in {"SECRET_KEY": SECRET_KEY, "DATABASE_URL": database_url}.items():
        monkeypatch.setenv(name, value)
    for proxies in ("", "10.0.0.0/8,127.0.0.1"):
        monkeypatch.setenv("TRUSTED_PROXIES", proxies)
        get_settings.cache_clear()
        assert runner.invoke(cli_app, ["serve"]).exit_code == 0
    get_settings.cache_clear()
    assert calls[0]["proxy_headers"] is False
    assert calls[1]["proxy_headers"] is True
    assert calls[1]["forwarded_allow_ips"] == ["10.0.0.0/8", "127.0.0.1/32"]
