"""Tokens in cookies for browsers, with CSRF protection.

Login and refresh from the service's own pages (see below) set three cookies:

- `__Host-access_token`: the access token; HttpOnly, so script injected into the page cannot
  read it. `__Host-` makes the browser refuse it unless Secure, Path=/ and without Domain, so
  a sibling subdomain cannot plant its own (cookie tossing).
- `__Secure-refresh_token`: the refresh token; HttpOnly, and sent only to the /auth routes
  (`__Host-` would demand Path=/): /auth/refresh trades it for new tokens, and /auth/logout
  ends its session even after the access cookie has expired, so no session outlives a logout.
- `__Host-csrf_token`: the CSRF token, readable by the page's script (not HttpOnly) and also
  sent as the `X-CSRF-Token` response header for pages on another origin of the same site.

All are SameSite=Strict: an API called by script has no use for the cross-site top-level
navigations that Lax allows, and Strict keeps the cookies off every cross-site request. That is
defence in depth only; the CSRF token is the real protection, since SameSite treats sibling
subdomains as the same site.

A request authenticated by cookie with an unsafe method (anything but GET, HEAD, OPTIONS,
TRACE; RFC 9110 section 9.2.1) must carry `X-CSRF-Token`, equal to HMAC(key, session id): the
signed double-submit pattern of the OWASP CSRF cheat sheet. Another site can make the browser
send the cookies but cannot read the token, nor compute it for any session.

Cookies are set only for a login or refresh that the service's own pages made
(`Sec-Fetch-Site: same-origin`, or `none` for one the user started), or whose `Origin` is in
COOKIE_ALLOWED_ORIGINS: no other page, not even one on a sibling subdomain (`same-site`), can
plant the attacker's session in the victim's browser (login CSRF). A request without either
header is not from a browser that sends Fetch Metadata (every current one does, and adds
`Origin` to every cross-origin POST): it gets no cookies, and its tokens in the JSON body as
any API client expects. Setting cookies for it would gain nothing and would let a browser old
enough to send neither header be logged in by another site.

Tokens that went into cookies stay out of the JSON body (unless COOKIE_TOKENS_IN_BODY): a
script injected into the page could otherwise read there what HttpOnly hides from it.

A WebSocket handshake is a GET that any page can start, with the cookies attached and no way
to add a CSRF header (Cross-Site WebSocket Hijacking, OWASP WebSocket cheat sheet). The access
cookie therefore authenticates a handshake only from the service's own pages: `Sec-Fetch-Site:
same-origin`, an `Origin` equal to the service's own (scheme and Host), or an `Origin` in
COOKIE_ALLOWED_ORIGINS. Browsers always send `Origin` with a handshake (RFC 6455 section 4.1)
and let no script change it; a handshake with a cookie but no such proof is refused.

Precedence: an `Authorization` header wins and the cookie is then ignored, and so is the CSRF
check, because a browser never attaches that header on its own. Likewise a refresh token in
the JSON body of /auth/refresh wins over the refresh cookie.
"""

import base64
import hashlib
import hmac
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from fastapi import Depends, Request, Response
from pydantic import BaseModel, Field

from ...config import Settings
from ...security.tokens import Claims, InvalidTokenError, IssuedTokens, TokenService
from ..authenticator import Authenticator, Scope, bearer_token
from ..dependencies import AuthenticatorDep, BearerAuth, http_error
from ..exceptions import AuthenticationError, InvalidAccessTokenError
from ..schemas import ErrorResponse, RefreshRequest, TokenResponse

ACCESS_COOKIE = "__Host-access_token"
REFRESH_COOKIE = "__Secure-refresh_token"
CSRF_COOKIE = "__Host-csrf_token"
CSRF_HEADER = "X-CSRF-Token"
_CSRF_HEADER_NAME = CSRF_HEADER.lower().encode()  # as ASGI servers spell header names
# The refresh cookie's path: /auth/refresh and /auth/logout, and no resource route.
REFRESH_PATH = "/auth"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# Fetch Metadata values of requests the service's own pages (or the user) made.
OWN_SITE_FETCHES = frozenset({b"same-origin", b"none"})


class CookieTokenResponse(BaseModel):
    """A login or refresh answer whose tokens went into HttpOnly cookies only."""

    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (a token type name, not a secret)
    expires_in: int = Field(description="Seconds until the access token (cookie) expires.")
    scope: str = Field(description="The granted scopes, space-separated (RFC 6749 5.1).")


# Login and refresh answer with the token pair, or, when the tokens were set as cookies, only
# with their lifetime.
TokenBody = TokenResponse | CookieTokenResponse


class CrossOriginWebSocketError(AuthenticationError):
    """A WebSocket handshake authenticated by cookie from a page that is not the service's own
    nor an allowed origin."""

    status_code = 403
    detail = "Cross-origin WebSocket handshake"
    headers: Mapping[str, str] = {}


class CsrfError(AuthenticationError):
    """A cookie-authenticated unsafe request without the right CSRF token."""

    status_code = 403
    detail = "Missing or invalid CSRF token"
    headers: Mapping[str, str] = {}


def cookie_value(scope: Scope, name: str) -> str | None:
    """The value of cookie `name`, or None when absent or empty.

    A name sent twice is refused rather than picking one: the second copy may have been
    planted for a wider path or domain. Several Cookie headers (HTTP/2) count as one list.
    """
    found: str | None = None
    for header, value in scope["headers"]:
        if header != b"cookie":
            continue
        for pair in value.decode("latin-1").split(";"):
            key, separator, cookie = pair.partition("=")
            if separator and key.strip() == name:
                if found is not None:
                    raise InvalidAccessTokenError
                found = cookie.strip()
    return found or None


def _single_header(scope: Scope, name: bytes) -> bytes | None:
    """The value of header `name` if it was sent exactly once."""
    values = [value for header, value in scope["headers"] if header == name]
    return values[0] if len(values) == 1 else None


class CookieAuthenticator(Authenticator):
    """The bearer-token authenticator, plus access-token cookies with a CSRF check."""

    def __init__(
        self,
        tokens: TokenService,
        secret: bytes,
        *,
        refresh_max_age: int,
        allowed_origins: frozenset[str],
        tokens_in_body: bool,
    ) -> None:
        super().__init__(tokens)
        # A key of its own, derived from SECRET_KEY, so a CSRF token can never double as a
        # JWT signature or the other way round.
        self._csrf_key = hmac.digest(secret, b"csrf-token-key", hashlib.sha256)
        self._refresh_max_age = refresh_max_age
        self._allowed_origins = frozenset(origin.encode() for origin in allowed_origins)
        self._tokens_in_body = tokens_in_body

    def authenticate(self, scope: Scope) -> Claims:
        token = bearer_token(scope)
        if token is not None:
            return self.verify(token)
        token = cookie_value(scope, ACCESS_COOKIE)
        if token is None:
            raise AuthenticationError
        if scope["type"] == "websocket":
            # Checked before the token: a foreign page learns nothing about the cookie.
            if not self.websocket_from_own_pages(scope):
                raise CrossOriginWebSocketError
            return self.verify(token)
        claims = self.verify(token)
        if scope["method"] not in SAFE_METHODS:
            self.check_csrf(scope, claims.session_id)
        return claims

    def websocket_from_own_pages(self, scope: Scope) -> bool:
        """Whether a WebSocket handshake came from the service's own pages or an allowed
        origin, and so may be authenticated by the access cookie.

        What `may_set_cookies` trusts, except `Sec-Fetch-Site: none`: no user starts a
        WebSocket by typing its address. The service's own origin is the handshake's scheme
        and Host (behind a TLS-terminating proxy, TRUSTED_PROXIES lets uvicorn take the
        scheme from X-Forwarded-Proto). A header sent twice counts as not sent.
        """
        if _single_header(scope, b"sec-fetch-site") == b"same-origin":
            return True
        origin = _single_header(scope, b"origin")
        if origin is None:
            return False
        if origin in self._allowed_origins:
            return True
        host = _single_header(scope, b"host")
        scheme = b"https" if scope.get("scheme") == "wss" else b"http"
        return host is not None and origin == scheme + b"://" + host

    def csrf_token(self, session_id: str) -> str:
        """The CSRF token of a session: the same for its whole life, useless for any other."""
        digest = hmac.digest(self._csrf_key, session_id.encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def check_csrf(self, scope: Scope, session_id: str) -> None:
        """CsrfError unless the request's one X-CSRF-Token header belongs to the session."""
        presented = _single_header(scope, _CSRF_HEADER_NAME)
        expected = self.csrf_token(session_id).encode()
        # Constant-time, so the token cannot be guessed byte by byte from response times.
        if presented is None or not hmac.compare_digest(presented, expected):
            raise CsrfError

    def refresh_token(self, scope: Scope) -> str:
        """The refresh cookie's token, once the CSRF header matches its session."""
        return self._refresh_cookie(scope)[0]

    def _refresh_cookie(self, scope: Scope) -> tuple[str, Claims]:
        token = cookie_value(scope, REFRESH_COOKIE)
        if token is None:
            raise AuthenticationError
        try:
            claims = self._tokens.verify_refresh(token)
        except InvalidTokenError:
            raise InvalidAccessTokenError from None
        # Refreshing and logging out are unsafe requests too: they hand out new tokens, spend
        # the old one, or end a session.
        self.check_csrf(scope, claims.session_id)
        return token, claims

    def session_to_end(self, scope: Scope) -> Claims:
        """Logout: the claims of the access token (header or cookie), or else those of the
        refresh cookie. Either one names the session, so a session whose access cookie has
        expired can still be ended, instead of living on through its refresh cookie."""
        try:
            return self.authenticate(scope)
        except CsrfError:
            raise
        except AuthenticationError as access_error:
            if bearer_token(scope) is not None or cookie_value(scope, REFRESH_COOKIE) is None:
                raise access_error from None
            return self._refresh_cookie(scope)[1]

    def may_set_cookies(self, scope: Scope) -> bool:
        """Whether the request came from the service's own pages or an allowed origin.

        Anything else could be another page posting the attacker's password to /auth/login
        to plant the attacker's session in the victim's browser (login CSRF), which no CSRF
        token can stop, as there is no session yet. Browsers set `Sec-Fetch-Site` and `Origin`
        themselves and let no script change them (Fetch Metadata; OWASP CSRF cheat sheet).
        A header sent twice counts as not sent.
        """
        if _single_header(scope, b"sec-fetch-site") in OWN_SITE_FETCHES:
            return True
        return _single_header(scope, b"origin") in self._allowed_origins

    def tokens_issued(
        self, request: Request, response: Response, issued: IssuedTokens
    ) -> TokenResponse | CookieTokenResponse:
        """Login and refresh: the new tokens go into cookies for the service's own pages,
        and then stay out of the body; every other caller gets them in the body only."""
        if not self.may_set_cookies(request.scope):
            return super().tokens_issued(request, response, issued)
        root_path = request.scope.get("root_path", "")
        csrf_token = self.csrf_token(issued.session_id)
        response.headers[CSRF_HEADER] = csrf_token
        refresh_path, max_age = root_path + REFRESH_PATH, self._refresh_max_age
        _set_cookie(response, ACCESS_COOKIE, issued.access_token, "/", issued.expires_in)
        _set_cookie(response, REFRESH_COOKIE, issued.refresh_token, refresh_path, max_age)
        _set_cookie(response, CSRF_COOKIE, csrf_token, "/", max_age, httponly=False)
        if self._tokens_in_body:
            return super().tokens_issued(request, response, issued)
        return CookieTokenResponse(expires_in=issued.expires_in, scope=issued.scope)

    def session_ended(self, request: Request, response: Response) -> None:
        """Logout: expire the three cookies; a browser matches each by name and path."""
        root_path = request.scope.get("root_path", "")
        _set_cookie(response, ACCESS_COOKIE, "", "/", 0)
        _set_cookie(response, REFRESH_COOKIE, "", root_path + REFRESH_PATH, 0)
        _set_cookie(response, CSRF_COOKIE, "", "/", 0, httponly=False)


def _set_cookie(
    response: Response, name: str, value: str, path: str, max_age: int, *, httponly: bool = True
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=path,
        secure=True,
        httponly=httponly,
        samesite="strict",
    )


def build_authenticator(settings: Settings, tokens: TokenService) -> CookieAuthenticator:
    """The authenticator of this project: bearer tokens, and cookies with a CSRF check."""
    assert settings.secret_key is not None  # guaranteed by Settings validation
    return CookieAuthenticator(
        tokens,
        settings.secret_key.get_secret_value().encode(),
        refresh_max_age=settings.refresh_idle_seconds,
        allowed_origins=settings.cookie_allowed_origins,
        tokens_in_body=settings.cookie_tokens_in_body,
    )


async def _cookie_authenticator(authenticator: AuthenticatorDep) -> CookieAuthenticator:
    if not isinstance(authenticator, CookieAuthenticator):
        raise TypeError("cookie routes need the CookieAuthenticator (see build_authenticator)")
    return authenticator


CookieAuthenticatorDep = Annotated[CookieAuthenticator, Depends(_cookie_authenticator)]


class LogoutAuth(BearerAuth):
    """The bearer scheme as documented (Swagger UI's lock), accepting the refresh cookie too."""

    async def __call__(  # type: ignore[override]
        self, request: Request, authenticator: CookieAuthenticatorDep
    ) -> Claims:
        try:
            return authenticator.session_to_end(request.scope)
        except AuthenticationError as exc:
            raise http_error(exc) from None


# The claims that name the session a logout ends. The same scheme name as `bearer_auth`: the
# OpenAPI document lists one scheme, used by both.
SessionClaims = Annotated[
    Claims, Depends(LogoutAuth(tokenUrl="/auth/login", scheme_name="BearerAuth"))
]


async def _refresh_token(
    request: Request, authenticator: CookieAuthenticatorDep, body: RefreshRequest | None = None
) -> str:
    """The refresh token of a refresh request: the JSON body's, or else the refresh cookie's
    (which needs X-CSRF-Token); a 401/403 without either."""
    if body is not None:
        return body.refresh_token
    try:
        return authenticator.refresh_token(request.scope)
    except AuthenticationError as exc:
        raise http_error(exc) from None


RefreshTokenIn = Annotated[str, Depends(_refresh_token)]

# What a cookie-authenticated request can get besides the usual answers.
TRANSPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    403: {"model": ErrorResponse, "description": "Cookie sent without a valid X-CSRF-Token"}
}
