"""SECRET_KEY must be random: guessable keys are refused at any length, random ones never."""

import secrets
from collections.abc import Callable

import pytest

from {{ cookiecutter.package_name }} import key_strength
from {{ cookiecutter.package_name }}.config import Settings, SettingsError, load_settings

HINT = 'python -c "import secrets; print(secrets.token_urlsafe(48))"'


def _settings(key: str) -> Settings:
    # No .env: the developer's own settings must not decide these tests.
    return load_settings(_env_file=None, secret_key=key, jwt_algorithm="HS256")


@pytest.mark.parametrize(
    "key",
    [
        "changeme-changeme-changeme-changeme",
        "your-256-bit-secret-your-256-bit-secret",
        "my-super-secret-key-for-jwt-signing",
        "0123456789abcdef0123456789abcdef",
        "changeme" * 100,
        "S3cr3t-K3y-f0r-JWT-S1gning-2024!!",
        "abcdefghijklmnopqrstuvwxyz0123456789",
        "q7Zp" * 40,
        "ab" * 200,
    ],
    ids=[
        "changeme-x4",
        "jwt-io-x2",
        "tutorial-words",
        "hex-sequences",
        "changeme-x100",
        "leetspeak",
        "alphabet",
        "repeated-chunk",
        "two-characters",
    ],
)
def test_guessable_keys_are_refused_whatever_their_length(key: str) -> None:
    with pytest.raises(SettingsError, match="SECRET_KEY") as refused:
        _settings(key)
    assert HINT in str(refused.value)
    assert key not in str(refused.value)


@pytest.mark.parametrize(
    "generate",
    [lambda: secrets.token_urlsafe(48), lambda: secrets.token_hex(32)],
    ids=["token_urlsafe-48", "token_hex-32"],
)
def test_random_keys_are_always_accepted(generate: Callable[[], str]) -> None:
    # The strength check itself for many keys (a false refusal would be rare), the whole
    # settings load for a few: a load costs about five times what the check alone costs.
    for _ in range(1000):
        key = generate()
        assert key_strength.weakness(key) is None, key
    for _ in range(20):
        assert _settings(generate()).secret_key is not None
