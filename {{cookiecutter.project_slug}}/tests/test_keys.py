"""Key pairs: loading and refusing keys, the JWKS document, and the `keys` commands."""

import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from typer.testing import CliRunner

from {{ cookiecutter.package_name }}.cli import app as cli
from {{ cookiecutter.package_name }}.config import SettingsError, get_settings
from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.security import key_files
from {{ cookiecutter.package_name }}.security.keys import load_private_key, previous_keys_dir

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

    code, output = _keys("generate")
    assert code == 1
    assert "PRIVATE_KEY_PATH" in output
    assert load_private_key(key_path, algorithm).kid == kid

    code, output = _keys("generate", "--force")
    assert code == 0, output
    assert load_private_key(key_path, algorithm).kid != kid
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
async def test_tokens_signed_before_a_rotation_keep_working(
    database_url: str, algorithm: str, key_path: Path
) -> None:
    assert _keys("generate")[0] == 0
    settings = make_settings(database_url, jwt_algorithm=algorithm, private_key_path=key_path)
    async with running(settings) as (app, http):
        await add_user(app, "alice@example.com")
        before = (await login(http)).json()
        old_kid = app.state.services.keys.current.kid

    code, output = _keys("rotate")
    assert code == 0, output
    retired = previous_keys_dir(key_path) / f"{old_kid}.pem"
    assert b"PRIVATE" not in retired.read_bytes()
    assert _mode(retired) == 0o600

    async with running(settings) as (app, http):
        new_kid = app.state.services.keys.current.kid
        assert new_kid != old_kid
        assert (
            await http.get("/users/me", headers=bearer(before["access_token"]))
        ).status_code == 200
        refreshed = await http.post(
            "/auth/refresh", json={"refresh_token": before["refresh_token"]}
        )
        assert refreshed.status_code == 200
        assert jwt.get_unverified_header(refreshed.json()["access_token"])["kid"] == new_kid
        jwks = (await http.get("/.well-known/jwks.json")).json()
    assert {key["kid"] for key in jwks["keys"]} == {old_kid, new_kid}


@pytest.mark.usefixtures("cli_env")
def test_rotation_prunes_retired_keys_whose_tokens_have_all_expired(
    algorithm: str, key_path: Path
) -> None:
    assert _keys("generate")[0] == 0
    assert _keys("rotate")[0] == 0
    [expired] = previous_keys_dir(key_path).glob("*.pem")
    settings = get_settings()
    long_ago = time.time() - settings.refresh_token_seconds - settings.jwt_leeway_seconds - 60
    os.utime(expired, (long_ago, long_ago))

    code, output = _keys("rotate")
    assert code == 0, output
    assert not expired.exists()
    assert str(expired) in output
    assert len(list(previous_keys_dir(key_path).glob("*.pem"))) == 1


@pytest.mark.usefixtures("cli_env")
@pytest.mark.parametrize("algorithm", ["EdDSA"])
async def test_rotating_to_another_algorithm_keeps_old_tokens_working(
    monkeypatch: pytest.MonkeyPatch, database_url: str, key_path: Path
) -> None:
    assert _keys("generate")[0] == 0
    async with running(
        make_settings(database_url, jwt_algorithm="EdDSA", private_key_path=key_path)
    ) as (app, http):
        await add_user(app, "alice@example.com")
        before = (await login(http)).json()

    monkeypatch.setenv("JWT_ALGORITHM", "ES256")
    get_settings.cache_clear()
    assert _keys("rotate")[0] == 0
    settings = make_settings(database_url, jwt_algorithm="ES256", private_key_path=key_path)
    async with running(settings) as (_, http):
        assert (
            await http.get("/protected", headers=bearer(before["access_token"]))
        ).status_code == 200
        fresh = (await login(http, password=PASSWORD)).json()
        jwks = (await http.get("/.well-known/jwks.json")).json()
    assert jwt.get_unverified_header(fresh["access_token"])["alg"] == "ES256"
    assert sorted(key["alg"] for key in jwks["keys"]) == ["ES256", "EdDSA"]


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
