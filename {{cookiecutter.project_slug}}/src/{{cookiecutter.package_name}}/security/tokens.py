"""Issue and verify JWTs: the one place that calls `jwt.encode` and `jwt.decode`.

Both the route dependency and the optional middleware call `TokenService.verify_access`, so
they cannot disagree about what a valid token is.
"""

import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

import jwt

from .keys import KeySet
from .revocation import RevokedSessions

TokenType = Literal["access", "refresh"]

# Our tokens are a few hundred bytes; refusing anything far larger before parsing keeps
# hostile inputs from costing base64 and JSON work (resource abuse, RFC 8725 section 3.x).
MAX_TOKEN_LENGTH = 4096
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
# Header members that would let a token pick its own key or demand extensions we do not
# implement (RFC 7515 section 4.1.11, OWASP JWT cheat sheet). We never issue them.
_FORBIDDEN_HEADERS = frozenset({"jwk", "jku", "x5u", "x5c", "crit"})
_REQUIRED_CLAIMS = ["exp", "iat", "sub", "jti", "sid", "type", "iss", "aud"]
# Claims the JWT core writes and checks itself; everything else a token carries is `extra`.
_OWN_CLAIMS = frozenset([*_REQUIRED_CLAIMS, "auth_time", "nbf"])
_VERIFIED_CACHE_SIZE = 10_000


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
    # The application's own claims (auth/claims.py), any JSON values, read-only.
    extra: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), kw_only=True)


@dataclass(frozen=True, slots=True)
class RefreshClaims(Claims):
    """Refresh-token claims, plus the login time that fixes the session's absolute end."""

    auth_time: int


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    access_token: str
    refresh_token: str
    refresh_token_id: str
    expires_in: int
    session_id: str


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
        self._verified: dict[str, Claims] = {}

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

    def session_end(self, auth_time: int) -> int:
        """When a session that logged in at `auth_time` ends, however often it refreshes."""
        return auth_time + self._refresh_ttl

    def issue(
        self,
        user_id: str,
        session_id: str,
        auth_time: int,
        extra: Mapping[str, Any] | None = None,
    ) -> IssuedTokens:
        """A new access + refresh pair for the session that logged in at `auth_time`; the
        access token also carries the `extra` claims (any JSON values, none of our own names).

        The refresh token dies after the idle timeout unless it is used, and never outlives its
        session: refreshing cannot extend a login past its absolute lifetime.
        """
        extra = dict(extra or {})
        if clash := _OWN_CLAIMS.intersection(extra):
            raise ValueError(f"claims {sorted(clash)} are the token core's own")
        now = int(time.time())
        refresh_id = uuid.uuid4().hex
        access = self._encode(
            "access", user_id, session_id, uuid.uuid4().hex, now, now + self._access_ttl, extra
        )
        refresh_exp = min(now + self._refresh_idle, self.session_end(auth_time))
        refresh = self._encode(
            "refresh",
            user_id,
            session_id,
            refresh_id,
            now,
            refresh_exp,
            {"auth_time": auth_time},
        )
        return IssuedTokens(access, refresh, refresh_id, self._access_ttl, session_id)

    def verify_access(self, token: str) -> Claims:
        """Claims of a valid, unexpired, unrevoked access token, else InvalidTokenError."""
        claims = self._verified.get(token)
        if claims is None:
            claims = _claims(self._decode(token, "access"))
            if len(self._verified) >= _VERIFIED_CACHE_SIZE:
                del self._verified[next(iter(self._verified))]
            self._verified[token] = claims
        if claims.expires_at + self._leeway <= time.time():
            self._verified.pop(token, None)
            raise InvalidTokenError("expired")
        if self._revoked.is_revoked(claims.session_id):
            raise InvalidTokenError("revoked")
        return claims

    def verify_refresh(self, token: str) -> RefreshClaims:
        """Claims of a well-formed refresh token; whether it is still current is for the store."""
        payload = self._decode(token, "refresh")
        claims, auth_time = _claims(payload), payload.get("auth_time")
        # Our refresh tokens are issued at or after login and expire by the session's end; any
        # other auth_time was not written by us.
        if (
            not isinstance(auth_time, int)
            or isinstance(auth_time, bool)
            or auth_time > claims.issued_at
            or claims.expires_at > self.session_end(auth_time)
        ):
            raise InvalidTokenError("bad auth_time")
        return RefreshClaims(
            claims.user_id,
            claims.session_id,
            claims.token_id,
            claims.issued_at,
            claims.expires_at,
            auth_time,
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
        return jwt.encode(
            payload, key.signing_key, algorithm=key.algorithm, headers={"kid": key.kid}
        )

    def _decode(self, token: str, expected_type: TokenType) -> dict[str, Any]:
        if len(token) > MAX_TOKEN_LENGTH or not _COMPACT_JWS.fullmatch(token):
            raise InvalidTokenError("malformed")
        try:
            header = jwt.get_unverified_header(token)
            key = self._keys.by_kid.get(header.get("kid"))  # type: ignore[arg-type]
            if key is None or _FORBIDDEN_HEADERS.intersection(header):
                raise InvalidTokenError("unacceptable header")
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
        except (jwt.PyJWTError, ValueError, TypeError, KeyError) as exc:
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
        return payload


def _claims(payload: dict[str, Any]) -> Claims:
    return Claims(
        payload["sub"],
        payload["sid"],
        payload["jti"],
        int(payload["iat"]),
        int(payload["exp"]),
        extra=MappingProxyType({k: v for k, v in payload.items() if k not in _OWN_CLAIMS}),
    )
