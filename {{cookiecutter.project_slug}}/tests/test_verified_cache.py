"""The verified-access-token cache: bounded by its byte budget, least recently used out first,
and never a way around expiry or revocation."""

import dataclasses
import time
import uuid

import pytest

from {{ cookiecutter.package_name }}.security.keys import load_keys
from {{ cookiecutter.package_name }}.security.revocation import RevokedSessions
from {{ cookiecutter.package_name }}.security.tokens import InvalidTokenError, TokenService
from {{ cookiecutter.package_name }}.security.verified_cache import VerifiedTokens, entry_bytes

from conftest import make_settings


def _token(n: int) -> str:
    """A compact-JWS-shaped string: header, payload and signature segments."""
    return f"h{n:04d}.payload{n:04d}.sig{n:04d}"


def test_the_least_recently_used_token_goes_first() -> None:
    a, b, c = _token(1), _token(2), _token(3)
    cache: VerifiedTokens[str] = VerifiedTokens(2 * entry_bytes(a))
    cache.put(a, "a")
    cache.put(b, "b")
    assert cache.get(a) == "a"  # a is now the most recently used
    cache.put(c, "c")
    assert cache.get(b) is None
    assert (cache.get(a), cache.get(c)) == ("a", "c")


def test_the_counted_bytes_never_exceed_the_budget() -> None:
    budget = 10 * entry_bytes(_token(0)) + 1
    cache: VerifiedTokens[int] = VerifiedTokens(budget)
    for n in range(1000):
        cache.put(_token(n), n)
        assert cache.bytes <= budget
    assert len(cache) == 10
    cache.discard(_token(999))
    assert (len(cache), cache.bytes) == (9, 9 * entry_bytes(_token(0)))


def test_clear_forgets_every_entry_and_its_cost() -> None:
    cache: VerifiedTokens[int] = VerifiedTokens(10 * entry_bytes(_token(0)))
    for n in range(5):
        cache.put(_token(n), n)
    cache.clear()
    assert (len(cache), cache.bytes, cache.get(_token(1))) == (0, 0, None)
    cache.put(_token(1), 1)
    assert cache.bytes == entry_bytes(_token(1))


def test_a_zero_budget_keeps_nothing() -> None:
    cache: VerifiedTokens[int] = VerifiedTokens(0)
    cache.put(_token(1), 1)
    assert (len(cache), cache.get(_token(1))) == (0, None)


def _tokens(database_url: str, revoked: RevokedSessions, cache_bytes: int) -> TokenService:
    """A token service alone; the settings need a database URL of the bake's kind, which is
    never connected to."""
    settings = make_settings(database_url)
    return TokenService(
        load_keys(settings),
        revoked,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        access_ttl=settings.access_token_seconds,
        refresh_ttl=settings.refresh_token_seconds,
        refresh_idle=settings.refresh_idle_seconds,
        leeway=settings.jwt_leeway_seconds,
        verified_cache_bytes=cache_bytes,
    )


def _issue(tokens: TokenService, session_id: str) -> str:
    return tokens.issue(str(uuid.uuid4()), session_id, int(time.time()), ("profile",)).access_token


def test_a_cached_token_is_still_refused_once_revoked(unreachable_database_url: str) -> None:
    revoked = RevokedSessions()
    tokens = _tokens(unreachable_database_url, revoked, 2**20)
    session_id = uuid.uuid4().hex
    access = _issue(tokens, session_id)
    assert tokens.verify_access(access).session_id == session_id  # verified, now cached
    revoked.add(session_id, time.time() + 60)
    with pytest.raises(InvalidTokenError):
        tokens.verify_access(access)


@pytest.mark.parametrize("cache_bytes", [0, 10_000])
def test_every_token_verifies_however_little_the_cache_holds(
    unreachable_database_url: str, cache_bytes: int
) -> None:
    tokens = _tokens(unreachable_database_url, RevokedSessions(), cache_bytes)
    sessions = [uuid.uuid4().hex for _ in range(30)]
    issued = [_issue(tokens, session_id) for session_id in sessions]
    for _ in range(2):
        assert [tokens.verify_access(token).session_id for token in issued] == sessions


def test_a_new_key_set_forgets_which_key_a_header_named(unreachable_database_url: str) -> None:
    """Verification remembers the key of each header it saw in a valid token; after a key
    change, a token of a key no longer in the set is refused, not verified from that memory."""
    tokens = _tokens(unreachable_database_url, RevokedSessions(), 0)
    first, second = (_issue(tokens, uuid.uuid4().hex) for _ in range(2))
    tokens.verify_access(first)
    tokens.use_keys(dataclasses.replace(tokens.keys, by_kid={}))
    with pytest.raises(InvalidTokenError):
        tokens.verify_access(second)
