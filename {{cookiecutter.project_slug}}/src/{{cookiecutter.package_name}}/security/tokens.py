"""Issue and verify JWTs: the one place that calls `jwt.encode` and `jwt.decode`.

Both the route dependency and the optional middleware call `TokenService.verify_access`, so
they cannot disagree about what a valid token is.
"""

import base64
import json
import re
import secrets
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

import jwt

from .keys import Key, KeySet
from .revocation import RevokedSessions
from .verified_cache import VerifiedTokens

TokenType = Literal["access", "refresh"]

# Our tokens are a few hundred bytes; refusing anything far larger before parsing keeps
# hostile inputs from costing base64 and JSON work (resource abuse, RFC 8725 section 3.x).
MAX_TOKEN_LENGTH = 4096
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
# Header members that would let a token pick its own key or demand extensions we do not
# implement (RFC 7515 section 4.1.11, OWASP JWT cheat sheet). We never issue them.
_FORBIDDEN_HEADERS = frozenset({"jwk", "jku", "x5u", "x5c", "crit"})
_REQUIRED_CLAIMS = ["exp", "iat", "sub", "jti", "sid", "type", "iss", "aud", "auth_time"]
# Claims the JWT core writes and checks itself; everything else a token carries is `extra`.
_OWN_CLAIMS = frozenset([*_REQUIRED_CLAIMS, "scope", "nbf"])
# RFC 6749 section 3.3: scope tokens of printable ASCII but `"` and `\`, one space apart.
_SCOPE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+(?: [\x21\x23-\x5b\x5d-\x7e]+)*")
_NO_EXTRA: Mapping[str, Any] = MappingProxyType({})
# Every token's header names its key, `{"alg":...,"kid":...}`, the same bytes for every token
# one key signs: the few header segments seen in verified tokens are remembered with their
# key, so the next token with one skips its base64 and JSON parse. Only headers of tokens that
# verified are kept, so this holds at most a few per key; the bound is for safety alone.
_MAX_KNOWN_HEADERS = 64
# Random bytes of a token id (`jti`): 128 bits, as many as a UUID4 has (122), in 22
# base64url characters instead of 32 hex digits. Every character is decoded and checked on
# every request, so a shorter token is a cheaper one.
_TOKEN_ID_BYTES = 16
# VERIFIED_TOKEN_CACHE_MB's default, for services built without settings.
DEFAULT_VERIFIED_CACHE_BYTES = 32 * 2**20


class InvalidTokenError(Exception):
    """Any reason a token is not accepted. The reason stays on the server."""


@dataclass(frozen=True, slots=True)
class Claims:
    """The verified claims we rely on."""

    user_id: str
    session_id: str
    token_id: str
    issued_at: int
    expires_at: int
    # When the session logged in (OpenID Connect's `auth_time`): it fixes the session's
    # absolute end, and tells routes how recent the login behind a token is.
    auth_time: int
    # The OAuth2 scopes the token grants (its `scope` claim, RFC 9068 section 2.2.3).
    scopes: frozenset[str] = frozenset()
    # The application's own claims (auth/claims.py), any JSON values, read-only.
    extra: Mapping[str, Any] = field(default_factory=lambda: _NO_EXTRA, kw_only=True)


@dataclass(frozen=True, slots=True)
class RefreshClaims(Claims):
    """Refresh-token claims: a type of their own, so that one kind of token can never be
    passed where the other is expected. Their `scopes` are the ones granted at login, which a
    refresh may narrow but never widen (RFC 6749 section 6)."""


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    access_token: str
    refresh_token: str
    refresh_token_id: str
    expires_in: int
    session_id: str
    # The granted scopes, space-separated as the token response's `scope` (RFC 6749 5.1).
    scope: str


class TokenService:
    """Signs tokens with the current key and verifies them against the key set."""

    def __init__(
        self,
        keys: KeySet,
        revoked: RevokedSessions,
        *,
        issuer: str,
        audience: str,
        access_ttl: int,
        refresh_ttl: int,
        refresh_idle: int,
        leeway: int,
        verified_cache_bytes: int = DEFAULT_VERIFIED_CACHE_BYTES,
    ) -> None:
        self._keys = keys
        self._revoked = revoked
        self._issuer = issuer
        self._audience = audience
        self._access_ttl = access_ttl
        self._refresh_ttl = refresh_ttl
        self._refresh_idle = refresh_idle
        self._leeway = leeway
        self._max_lifetime = {"access": access_ttl, "refresh": refresh_idle}
        # Verified access tokens by their exact string: a repeat costs a dict lookup instead of
        # a signature check. Expiry and revocation are still checked on every use.
        self._verified: VerifiedTokens[Claims] = VerifiedTokens(verified_cache_bytes)
        self._known_headers: dict[str, Key] = {}

    @property
    def keys(self) -> KeySet:
        """The key set in use: what signs, what verifies and what the JWKS publishes."""
        return self._keys

    def use_keys(self, keys: KeySet) -> None:
        """Sign and verify with `keys` from now on (security/key_reloader.py calls this).

        The verified-token cache is emptied, so a token whose key was just removed is not
        accepted from memory.
        """
        self._keys = keys
        self._verified.clear()
        self._known_headers = {}

    def session_end(self, auth_time: int) -> int:
        """When a session that logged in at `auth_time` ends, however often it refreshes."""
        return auth_time + self._refresh_ttl

    def issue(
        self,
        user_id: str,
        session_id: str,
        auth_time: int,
        scopes: Collection[str],
        extra: Mapping[str, Any] | None = None,
        *,
        refresh_token_id: str | None = None,
    ) -> IssuedTokens:
        """A new access + refresh pair for the session that logged in at `auth_time`, granting
        `scopes`; the access token also carries the `extra` claims (any JSON values, none of
        our own names). The refresh token's id is `refresh_token_id` (from `new_token_id`,
        for a refresh whose store recorded the id before the tokens were made) or a new one.

        The refresh token dies after the idle timeout unless it is used, and never outlives its
        session: refreshing cannot extend a login past its absolute lifetime.
        """
        extra = dict(extra or {})
        if clash := _OWN_CLAIMS.intersection(extra):
            raise ValueError(f"claims {sorted(clash)} are the token core's own")
        scope = " ".join(sorted(scopes))
        if scope and not _SCOPE.fullmatch(scope):
            raise ValueError("a scope is printable ASCII without spaces, quotes or backslashes")
        own: dict[str, Any] = {"auth_time": auth_time} | ({"scope": scope} if scope else {})
        now = int(time.time())
        refresh_id = refresh_token_id or self.new_token_id()
        access = self._encode(
            "access",
            user_id,
            session_id,
            self.new_token_id(),
            now,
            now + self._access_ttl,
            extra | own,
        )
        refresh_exp = min(now + self._refresh_idle, self.session_end(auth_time))
        refresh = self._encode(
            "refresh",
            user_id,
            session_id,
            refresh_id,
            now,
            refresh_exp,
            own,
        )
        return IssuedTokens(access, refresh, refresh_id, self._access_ttl, session_id, scope)

    @staticmethod
    def new_token_id() -> str:
        """A fresh random token id (`jti`)."""
        return secrets.token_urlsafe(_TOKEN_ID_BYTES)

    def verify_access(self, token: str) -> Claims:
        """Claims of a valid, unexpired, unrevoked access token, else InvalidTokenError."""
        claims = self._verified.get(token)
        if claims is None:
            claims = _claims(self._decode(token, "access"))
            self._verified.put(token, claims)
        if claims.expires_at + self._leeway <= time.time():
            self._verified.discard(token)
            raise InvalidTokenError("expired")
        if self._revoked.is_revoked(claims.session_id):
            raise InvalidTokenError("revoked")
        return claims

    def verify_refresh(self, token: str) -> RefreshClaims:
        """Claims of a well-formed refresh token; whether it is still current is for the store."""
        claims = _claims(self._decode(token, "refresh"))
        # Our refresh tokens expire by the session's end; any other auth_time is not ours.
        if claims.expires_at > self.session_end(claims.auth_time):
            raise InvalidTokenError("bad auth_time")
        return RefreshClaims(
            claims.user_id,
            claims.session_id,
            claims.token_id,
            claims.issued_at,
            claims.expires_at,
            claims.auth_time,
            claims.scopes,
        )

    def _encode(
        self,
        token_type: TokenType,
        user_id: str,
        session_id: str,
        token_id: str,
        iat: int,
        exp: int,
        extra: Mapping[str, Any],
    ) -> str:
        key = self._keys.current
        payload = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": user_id,
            "sid": session_id,
            "jti": token_id,
            "type": token_type,
            "iat": iat,
            "exp": exp,
        } | extra
        # No `typ`: PyJWT's default "JWT" says nothing a verifier could check (RFC 8725
        # section 3.11 asks for a type of its own, which our required `type` claim is), and
        # costs 16 characters that every request would decode.
        return jwt.encode(
            payload,
            key.signing_key,
            algorithm=key.algorithm,
            headers={"kid": key.kid, "typ": None},
        )

    def _decode(self, token: str, expected_type: TokenType) -> dict[str, Any]:
        if len(token) > MAX_TOKEN_LENGTH or not _COMPACT_JWS.fullmatch(token):
            raise InvalidTokenError("malformed")
        header_segment = token[: token.index(".")]
        # This key set's headers: `use_keys` starts a new dict, never adds to this one.
        known = self._known_headers
        try:
            key = known.get(header_segment) or self._key_for(header_segment)
            payload: dict[str, Any] = jwt.decode(
                token,
                key.verifying_key,
                # Pinned to the key's own algorithm: the token's `alg` only has to agree.
                algorithms=[key.algorithm],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": _REQUIRED_CLAIMS, "strict_aud": True},
            )
        except (jwt.PyJWTError, ValueError, TypeError, KeyError, RecursionError) as exc:
            raise InvalidTokenError(type(exc).__name__) from None
        if payload["type"] != expected_type:
            # An access token is not a refresh token, nor the other way round (RFC 8725 3.11).
            raise InvalidTokenError("wrong token type")
        for name in ("sub", "sid", "jti"):
            if not isinstance(payload[name], str) or not payload[name]:
                raise InvalidTokenError(f"bad {name}")
        iat, exp = payload["iat"], payload["exp"]
        # PyJWT also takes numeric strings and floats for these; we only ever issue integers.
        if type(iat) is not int or type(exp) is not int:
            raise InvalidTokenError("iat and exp must be integers")
        if exp - iat > self._max_lifetime[expected_type] + self._leeway:
            raise InvalidTokenError("lifetime longer than we ever issue")
        # Every token of a session is issued at or after its login.
        auth_time = payload["auth_time"]
        if type(auth_time) is not int or auth_time > iat:
            raise InvalidTokenError("bad auth_time")
        # A scope is one space-separated string (RFC 9068 2.2.3), never a list or an object:
        # a token whose `scope` we would read differently than another verifier is refused.
        scope = payload.get("scope")
        if scope is not None and (type(scope) is not str or not _SCOPE.fullmatch(scope)):
            raise InvalidTokenError("bad scope")
        if header_segment not in known and len(known) < _MAX_KNOWN_HEADERS:
            known[header_segment] = key
        return payload

    def _key_for(self, header_segment: str) -> Key:
        """The key a header names, if it is one of ours and the header asks nothing else."""
        header = _header(header_segment)
        key = self._keys.by_kid.get(header.get("kid"))
        if key is None or _FORBIDDEN_HEADERS.intersection(header):
            raise InvalidTokenError("unacceptable header")
        return key


def _header(segment: str) -> dict[str, Any]:
    """The JOSE header of a token that passed `_COMPACT_JWS`, from its first segment, only to
    pick the key. `jwt.get_unverified_header` would also decode the payload and the signature,
    which `jwt.decode` then decodes again, costing more than an HS256 check. `jwt.decode`
    still parses and validates this header itself, with its own strict rules."""
    header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    if not isinstance(header, dict):
        raise ValueError("header is not a JSON object")
    return header


def _claims(payload: dict[str, Any]) -> Claims:
    """The claims of a payload `_decode` accepted (so `iat` and `exp` are integers)."""
    # The usual token carries nothing but our own claims: one set comparison, in C, instead
    # of a dict comprehension over every claim.
    extra = (
        _NO_EXTRA
        if payload.keys() <= _OWN_CLAIMS
        else MappingProxyType({k: v for k, v in payload.items() if k not in _OWN_CLAIMS})
    )
    scope = payload.get("scope")
    return Claims(
        payload["sub"],
        payload["sid"],
        payload["jti"],
        payload["iat"],
        payload["exp"],
        payload["auth_time"],
        frozenset(scope.split(" ")) if scope is not None else frozenset(),
        # One shared empty mapping for the usual token without extra claims: less to copy and
        # to keep per cached token.
        extra=extra,
    )
