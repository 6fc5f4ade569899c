"""Settings: a weak or missing signing key stops the app, naming SECRET_KEY."""

import secrets
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.config import Settings, SettingsError, load_settings
from {{ cookiecutter.package_name }}.db import async_database_url
from {{ cookiecutter.package_name }}.main import create_app


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No .env and no SECRET_KEY from the developer's shell may leak into these tests."""
    monkeypatch.chdir(tmp_path)
    for name in ("SECRET_KEY", "JWT_ALGORITHM", "PRIVATE_KEY_PATH", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JWT_ALGORITHM", "HS256")


def test_a_missing_secret_key_is_refused() -> None:
    with pytest.raises(SettingsError, match="SECRET_KEY"):
        load_settings()


@pytest.mark.parametrize(
    "key",
    [
        "short",
        "x" * 31,
        "a" * 64,
        "secret",
        "changethis",
        "09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7",
        "your-256-bit-secret",
    ],
    ids=["short", "31-bytes", "repetitive", "secret", "changethis", "fastapi-docs", "jwt-io"],
)
def test_weak_or_well_known_keys_are_refused(key: str) -> None:
    with pytest.raises(SettingsError, match="SECRET_KEY"):
        load_settings(secret_key=key)


def test_a_fresh_random_key_is_accepted() -> None:
    assert load_settings(secret_key=secrets.token_urlsafe(32)).secret_key is not None


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    key = secrets.token_urlsafe(48)
    monkeypatch.setenv("SECRET_KEY", key)
    monkeypatch.setenv("ACCESS_TOKEN_MINUTES", "7")
    settings = load_settings()
    assert settings.secret_key is not None
    assert settings.secret_key.get_secret_value() == key
    assert settings.access_token_seconds == 7 * 60


def test_settings_come_from_dot_env(tmp_path: Path) -> None:
    key = secrets.token_urlsafe(48)
    (tmp_path / ".env").write_text(f"SECRET_KEY={key}\nREFRESH_TOKEN_DAYS=3\n", encoding="utf-8")
    settings = load_settings()
    assert settings.refresh_token_days == 3


def test_the_secret_never_shows_in_repr() -> None:
    key = secrets.token_urlsafe(48)
    settings = load_settings(secret_key=key)
    assert key not in repr(settings)
    assert key not in str(settings.model_dump())


def test_out_of_range_lifetimes_name_the_setting() -> None:
    with pytest.raises(SettingsError, match="ACCESS_TOKEN_MINUTES"):
        load_settings(secret_key=secrets.token_urlsafe(48), access_token_minutes=0)


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("jwks_max_age_seconds", -1),
        ("jwks_max_age_seconds", 86401),
        ("key_reload_seconds", 0),
        ("key_reload_seconds", 3601),
    ],
)
def test_out_of_range_key_timings_name_the_setting(setting: str, value: int) -> None:
    with pytest.raises(SettingsError, match=setting.upper()):
        load_settings(secret_key=secrets.token_urlsafe(48), **{setting: value})


def test_the_app_refuses_to_start_with_a_bad_key() -> None:
    with pytest.raises(SettingsError, match="SECRET_KEY"):
        create_app(load_settings(secret_key="changeme"))


def test_an_asymmetric_algorithm_needs_a_private_key() -> None:
    with pytest.raises(SettingsError, match="PRIVATE_KEY_PATH"):
        load_settings(jwt_algorithm="EdDSA")


@pytest.mark.parametrize(
    "issuer", ["my-service", "https://api.example.com", "http://127.0.0.1:8000/api/"]
)
def test_the_issuer_is_a_name_or_a_public_base_url(issuer: str) -> None:
    settings = load_settings(secret_key=secrets.token_urlsafe(48), jwt_issuer=issuer)
    assert settings.issuer_url == (issuer if "://" in issuer else None)


@pytest.mark.parametrize(
    "issuer",
    ["ftp://example.com", "https://", "https://example.com/?tenant=1", "https://example.com/#x"],
)
def test_an_issuer_url_must_be_an_http_base_url(issuer: str) -> None:
    """RFC 8414 section 2: an issuer identifier has no query or fragment."""
    with pytest.raises(SettingsError, match="JWT_ISSUER"):
        load_settings(secret_key=secrets.token_urlsafe(48), jwt_issuer=issuer)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u@h:5432/db", "postgresql+asyncpg://u@h:5432/db"),
        ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("sqlite:///./app.db", "sqlite+aiosqlite:///./app.db"),
    ],
)
def test_plain_database_urls_get_the_async_driver(url: str, expected: str) -> None:
    assert async_database_url(url) == expected


def test_settings_are_immutable() -> None:
    settings: Settings = load_settings(secret_key=secrets.token_urlsafe(48))
    with pytest.raises(ValueError, match="frozen"):
        settings.access_token_minutes = 99  # type: ignore[misc]
