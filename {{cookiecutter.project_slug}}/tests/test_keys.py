"""Key pairs: loading and refusing keys, the JWKS document, the `keys` commands, and staged
rotation taken up by a running app without a restart."""

import logging
import os
import re
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI
from typer.testing import CliRunner

from {{ cookiecutter.package_name }}.cli import app as cli
from {{ cookiecutter.package_name }}.config import Settings, SettingsError, get_settings
from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.security import key_files
from {{ cookiecutter.package_name }}.security.key_reloader import KeyReloader
from {{ cookiecutter.package_name }}.security.keys import (
    load_next_key,
    load_private_key,
    next_key_path,
    previous_keys_dir,
)

from conftest import (
    ASYMMETRIC_ALGORITHMS,
    PASSWORD,
    SECRET_KEY,
    add_user,
    bearer,
    key_file,
    login,
    make_settings,
    running,
    services_of,
)

runner = CliRunner()
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "k"}


def _public_pem(private_key_path: Path) -> bytes:
    private_key = serialization.load_pem_private_key(private_key_path.read_bytes(), None)
    return private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(params=ASYMMETRIC_ALGORITHMS)
def algorithm(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def key_path(tmp_path: Path) -> Path:
    return tmp_path / "keys" / "private.pem"


@pytest.fixture
def cli_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, algorithm: str, key_path: Path
) -> Iterator[None]:
    """The environment `python -m ... keys` reads, with no developer .env in the way."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("JWT_ALGORITHM", algorithm)
    monkeypatch.setenv("PRIVATE_KEY_PATH", str(key_path))
    # Not a JWT key here, but other settings may need one (CSRF tokens with cookie auth).
    monkeypatch.setenv("SECRET_KEY", SECRET_KEY)
    # 2048-bit RSA keys (the least we accept) generate several times faster than the 3072-bit
    # default; what the commands do with a key does not depend on its size.
    monkeypatch.setattr(key_files, "RSA_BITS", 2048)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _keys(*args: str) -> tuple[int, str]:
    result = runner.invoke(cli, ["keys", *args])
    return result.exit_code, result.output


def _next_kid(key_path: Path) -> str:
    staged = load_next_key(next_key_path(key_path))
    assert staged is not None
    return staged.kid


def _age(path: Path, seconds: float) -> None:
    """Make `path` look written `seconds` ago: how long a staged key has been published, or
    a retired key retired."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def _age_next_key(key_path: Path) -> None:
    """Age the staged next key past JWKS_MAX_AGE_SECONDS + KEY_RELOAD_SECONDS (by a minute)."""
    settings = get_settings()
    _age(next_key_path(key_path), settings.jwks_max_age_seconds + settings.key_reload_seconds + 60)


def _checked_by_hand(database_url: str, algorithm: str, key_path: Path) -> Settings:
    """Settings whose background key check never comes round during a test: the test calls
    `KeyReloader.check()` itself, so nothing depends on timing."""
    return make_settings(
        database_url, jwt_algorithm=algorithm, private_key_path=key_path, key_reload_seconds=3600
    )


def _reloader(app: FastAPI) -> KeyReloader:
    reloader = services_of(app).key_reloader
    assert reloader is not None
    return reloader


async def _jwks_kids(http: httpx.AsyncClient) -> set[str]:
    return {key["kid"] for key in (await http.get("/.well-known/jwks.json")).json()["keys"]}


def _kid(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


async def test_jwks_publishes_the_public_key_that_verifies_our_tokens(
    database_url: str, algorithm: str
) -> None:
    async with running(make_settings(database_url, jwt_algorithm=algorithm)) as (app, http):
        await add_user(app, "alice@example.com")
        token = (await login(http)).json()["access_token"]
        response = await http.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert "max-age=" in response.headers["cache-control"]
    [jwk] = response.json()["keys"]
    assert not PRIVATE_MEMBERS & jwk.keys()
    assert jwk["kid"] == jwt.get_unverified_header(token)["kid"]
    assert (jwk["alg"], jwk["use"]) == (algorithm, "sig")
    # What another service does: pick the key by kid from the JWKS and verify.
    public_key = jwt.PyJWKSet.from_dict(response.json())[jwk["kid"]].key
    claims = jwt.decode(token, public_key, algorithms=[algorithm], audience="{{ cookiecutter.package_name }}")
    assert claims["type"] == "access"


async def test_jwks_and_discovery_are_cached_for_jwks_max_age_seconds(
    database_url: str, algorithm: str
) -> None:
    settings = make_settings(
        database_url,
        jwt_algorithm=algorithm,
        jwt_issuer="https://auth.example.com",
        jwks_max_age_seconds=42,
    )
    async with running(settings) as (_, http):
        jwks = await http.get("/.well-known/jwks.json")
        metadata = await http.get("/.well-known/oauth-authorization-server")
    assert jwks.headers["cache-control"] == "public, max-age=42"
    assert metadata.headers["cache-control"] == "public, max-age=42"


async def test_jwks_is_empty_under_hs256(database_url: str) -> None:
    settings = make_settings(database_url, jwt_algorithm="HS256")
    async with running(settings) as (_, http):
        response = await http.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.json() == {"keys": []}


@pytest.mark.parametrize(
    ("configured", "actual"), [("EdDSA", "ES256"), ("ES256", "RS256"), ("RS256", "EdDSA")]
)
def test_a_key_of_another_type_stops_the_app(
    database_url: str, configured: str, actual: str
) -> None:
    settings = make_settings(
        database_url, jwt_algorithm=configured, private_key_path=key_file(actual)
    )
    with pytest.raises(SettingsError, match=rf"PRIVATE_KEY_PATH .* for {configured}"):
        create_app(settings)


def test_a_weak_rsa_key_stops_the_app(database_url: str, tmp_path: Path) -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 (the point)
    path = tmp_path / "weak.pem"
    path.write_bytes(
        weak.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    settings = make_settings(database_url, jwt_algorithm="RS256", private_key_path=path)
    with pytest.raises(SettingsError, match=r"PRIVATE_KEY_PATH .* at least 2048 bits"):
        create_app(settings)


@pytest.mark.parametrize("content", ["missing", "garbage", "public key"])
def test_a_missing_or_unreadable_key_stops_the_app(
    database_url: str, algorithm: str, key_path: Path, content: str
) -> None:
    if content != "missing":
        key_path.parent.mkdir()
        # The public key is the classic mix-up: it is a PEM file, but cannot sign.
        public = _public_pem(key_file(algorithm))
        key_path.write_bytes(public if content == "public key" else b"not a key")
    settings = make_settings(database_url, jwt_algorithm=algorithm, private_key_path=key_path)
    with pytest.raises(SettingsError, match="PRIVATE_KEY_PATH"):
        create_app(settings)


async def test_a_matching_public_key_path_is_accepted(
    database_url: str, algorithm: str, tmp_path: Path
) -> None:
    public = tmp_path / "public.pem"
    public.write_bytes(_public_pem(key_file(algorithm)))
    settings = make_settings(database_url, jwt_algorithm=algorithm, public_key_path=public)
    async with running(settings) as (app, _):
        assert app.state.services.keys.current.algorithm == algorithm


@pytest.mark.parametrize("content", ["another key", "garbage", "missing"])
def test_a_public_key_path_that_does_not_match_stops_the_app(
    database_url: str, algorithm: str, tmp_path: Path, content: str
) -> None:
    public = tmp_path / "public.pem"
    if content == "another key":
        public.write_bytes(_public_pem(key_file(algorithm, "foreign")))
    elif content == "garbage":
        public.write_bytes(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    settings = make_settings(database_url, jwt_algorithm=algorithm, public_key_path=public)
    with pytest.raises(SettingsError, match="PUBLIC_KEY_PATH"):
        create_app(settings)


@pytest.mark.usefixtures("cli_env")
def test_generate_writes_an_owner_only_key_and_never_overwrites_silently(
    algorithm: str, key_path: Path
) -> None:
    code, output = _keys("generate")
    assert code == 0, output
    assert _mode(key_path) == 0o600
    assert _mode(key_path.parent) == 0o700
    kid = load_private_key(key_path, algorithm).kid
    assert kid in output
    # The next key is staged beside it, private and owner-only too.
    next_kid = _next_kid(key_path)
    assert next_kid in output
    assert next_kid != kid
    assert _mode(next_key_path(key_path)) == 0o600
    assert "PRIVATE KEY" not in output

    code, output = _keys("generate")
    assert code == 1
    assert "PRIVATE_KEY_PATH" in output
    assert load_private_key(key_path, algorithm).kid == kid
    assert _next_kid(key_path) == next_kid

    code, output = _keys("generate", "--force")
    assert code == 0, output
    assert load_private_key(key_path, algorithm).kid != kid
    assert _next_kid(key_path) != next_kid
    assert _mode(key_path) == 0o600


@pytest.mark.usefixtures("cli_env")
def test_rotation_needs_a_key_to_rotate() -> None:
    code, output = _keys("rotate")
    assert code == 1
    assert "keys generate" in output
    assert "Traceback" not in output


@pytest.mark.usefixtures("cli_env")
@pytest.mark.parametrize("algorithm", ["EdDSA"])
def test_the_key_commands_refuse_hs256(monkeypatch: pytest.MonkeyPatch, key_path: Path) -> None:
    monkeypatch.setenv("JWT_ALGORITHM", "HS256")
    for command in ("generate", "rotate"):
        code, output = _keys(command)
        assert code == 1
        assert "HS256" in output
    assert not key_path.exists()


@pytest.mark.usefixtures("cli_env")
async def test_the_next_key_is_published_but_never_signs(
    database_url: str, algorithm: str, key_path: Path
) -> None:
    assert _keys("generate")[0] == 0
    kid, next_kid = load_private_key(key_path, algorithm).kid, _next_kid(key_path)
    settings = make_settings(database_url, jwt_algorithm=algorithm, private_key_path=key_path)
    async with running(settings) as (app, http):
        await add_user(app, "alice@example.com")
        issued = [(await login(http)).json() for _ in range(3)]
        assert await _jwks_kids(http) == {kid, next_kid}
        assert services_of(app).keys.by_kid[next_kid].signing_key is None
    tokens = [token for pair in issued for token in (pair["access_token"], pair["refresh_token"])]
    assert {_kid(token) for token in tokens} == {kid}


@pytest.mark.usefixtures("cli_env")
def test_rotate_refuses_a_next_key_verifiers_may_not_have_yet(
    algorithm: str, key_path: Path
) -> None:
    assert _keys("generate")[0] == 0
    before = {path: path.read_bytes() for path in (key_path, next_key_path(key_path))}

    code, output = _keys("rotate")
    assert code == 1
    assert "JWKS_MAX_AGE_SECONDS + KEY_RELOAD_SECONDS" in output
    # 310 seconds (300 + 10) minus the moment since `generate` wrote it.
    waiting = re.search(r"again in (\d+) seconds", output)
    assert waiting, output
    assert 300 < int(waiting[1]) <= 310
    assert "--now" in output
    assert {path: path.read_bytes() for path in before} == before
    assert not previous_keys_dir(key_path).exists()


@pytest.mark.usefixtures("cli_env")
@pytest.mark.parametrize("how", ["after the wait", "--now"])
def test_rotate_promotes_the_next_key_retires_the_old_and_stages_another(
    algorithm: str, key_path: Path, how: str
) -> None:
    assert _keys("generate")[0] == 0
    old_kid, next_kid = load_private_key(key_path, algorithm).kid, _next_kid(key_path)
    if how == "--now":
        code, output = _keys("rotate", "--now")
    else:
        _age_next_key(key_path)
        code, output = _keys("rotate")
    assert code == 0, output

    # The former next key signs, under the kid verifiers have had for the whole wait.
    assert load_private_key(key_path, algorithm).kid == next_kid
    retired = previous_keys_dir(key_path) / f"{old_kid}.pem"
    assert b"PRIVATE" not in retired.read_bytes()
    new_next_kid = _next_kid(key_path)
    assert new_next_kid not in {old_kid, next_kid}
    for path in (key_path, retired, next_key_path(key_path)):
        assert _mode(path) == 0o600
    for kid in (old_kid, next_kid, new_next_kid):
        assert kid in output
    assert "PRIVATE KEY" not in output
    # No temporary file is left beside the keys.
    assert sorted(p.name for p in key_path.parent.iterdir()) == [
        "next.pem",
        "previous",
        "private.pem",
    ]


@pytest.mark.usefixtures("cli_env")
@pytest.mark.parametrize("problem", ["missing", "another algorithm"])
def test_rotate_without_a_fitting_next_key_stages_one_and_asks_to_wait(
    monkeypatch: pytest.MonkeyPatch, algorithm: str, key_path: Path, problem: str
) -> None:
    assert _keys("generate")[0] == 0
    kid = load_private_key(key_path, algorithm).kid
    if problem == "missing":
        # A project made before next keys were staged.
        next_key_path(key_path).unlink()
    else:
        other = "ES256" if algorithm == "EdDSA" else "EdDSA"
        key_files.write_key_file(
            next_key_path(key_path), key_files.generate_private_key(other), overwrite=True
        )

    code, output = _keys("rotate")
    assert code == 0, output
    assert "Nothing rotated" in output
    assert "run `keys rotate` again in 310 seconds" in output
    assert load_private_key(key_path, algorithm).kid == kid
    assert load_private_key(next_key_path(key_path), algorithm).kid == _next_kid(key_path)
    assert _mode(next_key_path(key_path)) == 0o600
    # The freshly staged key must wait like any other.
    assert _keys("rotate")[0] == 1


@pytest.mark.usefixtures("cli_env")
def test_rotate_now_without_a_next_key_stages_and_promotes_one(
    algorithm: str, key_path: Path
) -> None:
    assert _keys("generate")[0] == 0
    old_kid = load_private_key(key_path, algorithm).kid
    next_key_path(key_path).unlink()

    code, output = _keys("rotate", "--now")
    assert code == 0, output
    new_kid = load_private_key(key_path, algorithm).kid
    assert new_kid != old_kid
    assert (previous_keys_dir(key_path) / f"{old_kid}.pem").exists()
    assert _next_kid(key_path) not in {old_kid, new_kid}


@pytest.mark.usefixtures("cli_env")
async def test_a_running_app_takes_up_a_rotation_without_a_restart(
    database_url: str, algorithm: str, key_path: Path
) -> None:
    assert _keys("generate")[0] == 0
    async with running(_checked_by_hand(database_url, algorithm, key_path)) as (app, http):
        await add_user(app, "alice@example.com")
        before = (await login(http)).json()
        old_kid, next_kid = _kid(before["access_token"]), _next_kid(key_path)
        # Verified once, so it sits in the verified-token cache through the swap.
        assert (
            await http.get("/protected", headers=bearer(before["access_token"]))
        ).status_code == 200
        assert not await _reloader(app).check()

        _age_next_key(key_path)
        assert _keys("rotate")[0] == 0
        new_next_kid = _next_kid(key_path)
        assert await _reloader(app).check()

        after = (await login(http)).json()
        assert _kid(after["access_token"]) == _kid(after["refresh_token"]) == next_kid
        assert await _jwks_kids(http) == {old_kid, next_kid, new_next_kid}
        for token in (before["access_token"], after["access_token"]):
            assert (await http.get("/users/me", headers=bearer(token))).status_code == 200
        refreshed = await http.post(
            "/auth/refresh", json={"refresh_token": before["refresh_token"]}
        )
        assert refreshed.status_code == 200
        assert _kid(refreshed.json()["access_token"]) == next_kid

        # Once the retired key is gone, its tokens stop verifying, cached or not.
        (previous_keys_dir(key_path) / f"{old_kid}.pem").unlink()
        assert await _reloader(app).check()
        assert (
            await http.get("/protected", headers=bearer(before["access_token"]))
        ).status_code == 401
        assert (
            await http.get("/protected", headers=bearer(after["access_token"]))
        ).status_code == 200


@pytest.mark.usefixtures("cli_env")
@pytest.mark.parametrize("broken", ["garbage", "public key", "weak key"])
async def test_a_broken_key_file_mid_run_keeps_the_old_keys(
    caplog: pytest.LogCaptureFixture,
    database_url: str,
    algorithm: str,
    key_path: Path,
    broken: str,
) -> None:
    assert _keys("generate")[0] == 0
    async with running(_checked_by_hand(database_url, algorithm, key_path)) as (app, http):
        await add_user(app, "alice@example.com")
        before = (await login(http)).json()
        kids = await _jwks_kids(http)
        if broken == "garbage":
            # Split so that secret scanners (pre-commit's detect-private-key) see no key here.
            content = b"-----BEGIN " + b"PRIVATE KEY-----\nhalf a k"
        elif broken == "public key":
            content = _public_pem(key_path)
        else:
            weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505
            content = weak.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        key_files.write_key_file(next_key_path(key_path), content, overwrite=True)

        caplog.clear()
        assert not await _reloader(app).check()
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1
        assert "next.pem" in warnings[0].getMessage()
        assert "PRIVATE KEY" not in warnings[0].getMessage()
        # Warned once per change, not at every check.
        assert not await _reloader(app).check()
        assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1

        assert await _jwks_kids(http) == kids
        after = (await login(http)).json()
        assert _kid(after["access_token"]) == _kid(before["access_token"])
        assert (
            await http.get("/users/me", headers=bearer(before["access_token"]))
        ).status_code == 200


@pytest.mark.parametrize("content", ["garbage", "public key", "weak key"])
def test_a_broken_next_key_stops_the_app_naming_the_file(
    database_url: str, algorithm: str, tmp_path: Path, content: str
) -> None:
    private = tmp_path / "keys" / "private.pem"
    private.parent.mkdir()
    private.write_bytes(key_file(algorithm).read_bytes())
    if content == "weak key":
        weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505
        data = weak.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    else:
        data = _public_pem(private) if content == "public key" else b"not a key"
    next_key_path(private).write_bytes(data)
    settings = make_settings(database_url, jwt_algorithm=algorithm, private_key_path=private)
    with pytest.raises(SettingsError, match=r"next\.pem"):
        create_app(settings)


@pytest.mark.usefixtures("cli_env")
def test_rotation_prunes_retired_keys_once_no_token_they_signed_can_be_in_use(
    algorithm: str, key_path: Path
) -> None:
    assert _keys("generate")[0] == 0
    assert _keys("rotate", "--now")[0] == 0
    assert _keys("rotate", "--now")[0] == 0
    first, second = sorted(previous_keys_dir(key_path).glob("*.pem"))
    settings = get_settings()
    # Refresh lifetime + leeway + one reload interval, in which a worker that has not
    # reloaded yet may still sign with a retired key.
    keep = (
        settings.refresh_token_seconds + settings.jwt_leeway_seconds + settings.key_reload_seconds
    )
    _age(first, keep + 60)
    _age(second, keep - 60)

    code, output = _keys("rotate", "--now")
    assert code == 0, output
    assert not first.exists()
    assert str(first) in output
    assert second.exists()
    assert len(list(previous_keys_dir(key_path).glob("*.pem"))) == 2


@pytest.mark.usefixtures("cli_env")
@pytest.mark.parametrize("algorithm", ["EdDSA"])
async def test_rotating_to_another_algorithm_keeps_old_tokens_working(
    monkeypatch: pytest.MonkeyPatch, database_url: str, key_path: Path
) -> None:
    assert _keys("generate")[0] == 0
    async with running(_checked_by_hand(database_url, "EdDSA", key_path)) as (app, http):
        await add_user(app, "alice@example.com")
        before = (await login(http)).json()
        # The staged EdDSA key does not fit ES256: the first rotate stages an ES256 key,
        # which a running EdDSA worker already publishes, ahead of the switch.
        monkeypatch.setenv("JWT_ALGORITHM", "ES256")
        get_settings.cache_clear()
        code, output = _keys("rotate")
        assert code == 0, output
        assert "Nothing rotated" in output
        assert await _reloader(app).check()
        assert _next_kid(key_path) in await _jwks_kids(http)

    _age_next_key(key_path)
    assert _keys("rotate")[0] == 0
    # A worker restarted with the new JWT_ALGORITHM signs with the new key.
    settings = make_settings(database_url, jwt_algorithm="ES256", private_key_path=key_path)
    async with running(settings) as (_, http):
        assert (
            await http.get("/protected", headers=bearer(before["access_token"]))
        ).status_code == 200
        fresh = (await login(http, password=PASSWORD)).json()
        jwks = (await http.get("/.well-known/jwks.json")).json()
    assert jwt.get_unverified_header(fresh["access_token"])["alg"] == "ES256"
    assert sorted(key["alg"] for key in jwks["keys"]) == ["ES256", "ES256", "EdDSA"]


def test_a_broken_previous_key_stops_the_app_naming_the_file(
    database_url: str, algorithm: str, tmp_path: Path
) -> None:
    private = tmp_path / "keys" / "private.pem"
    private.parent.mkdir()
    private.write_bytes(key_file(algorithm).read_bytes())
    broken = previous_keys_dir(private)
    broken.mkdir()
    (broken / "old.pem").write_bytes(private.read_bytes())  # a private key does not belong here
    settings = make_settings(database_url, jwt_algorithm=algorithm, private_key_path=private)
    with pytest.raises(SettingsError, match=r"old\.pem"):
        create_app(settings)
