"""Token-store fixtures for Redis (a pytest plugin that conftest.py loads): every run keeps its
keys under a prefix of its own, every test that builds an app starts with none of them."""

import os
import secrets
from collections.abc import Iterator

import pytest
import redis

from required_services import require_service

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
# One prefix per run (per xdist worker): runs sharing a Redis never see each other's keys.
REDIS_KEY_PREFIX = f"{{ cookiecutter.package_name }}-test-{secrets.token_hex(4)}:"
# Apps shared by a module keep their keys apart, out of reach of `_fresh_redis`.
SHARED_REDIS_KEY_PREFIX = f"{{ cookiecutter.package_name }}-shared-test-{secrets.token_hex(4)}:"

# What make_settings adds for this store. Revocations are pushed, so the poll interval is
# only how often a worker proves its subscription alive; a worker that misses two proofs
# answers 503. Generous here, so a test machine starved of CPU does not fail closed under a
# test that is about something else (the fail-closed tests set their own short interval).
STORE_SETTINGS: dict[str, object] = {
    "redis_url": REDIS_URL,
    "redis_key_prefix": REDIS_KEY_PREFIX,
    "revocation_poll_seconds": 2.0,
}
SHARED_STORE_SETTINGS: dict[str, object] = {"redis_key_prefix": SHARED_REDIS_KEY_PREFIX}


@pytest.fixture(scope="session")
def redis_client() -> Iterator[redis.Redis]:
    """A client of the test Redis; the run's keys are deleted at the end."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        require_service(
            f"Redis is not reachable at {REDIS_URL} (set TEST_REDIS_URL): {type(exc).__name__}"
        )
    yield client
    delete_redis_keys(client)
    delete_redis_keys(client, SHARED_REDIS_KEY_PREFIX)
    client.close()


def delete_redis_keys(client: redis.Redis, prefix: str = REDIS_KEY_PREFIX) -> None:
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture(autouse=True)
def _fresh_redis(request: pytest.FixtureRequest) -> None:
    """A test that builds an app (they all take `database_url`) starts with an empty Redis."""
    if "database_url" in request.fixturenames:
        delete_redis_keys(request.getfixturevalue("redis_client"))
