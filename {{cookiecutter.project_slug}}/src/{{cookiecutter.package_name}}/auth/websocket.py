"""Authenticated WebSockets: the handshake is verified like any request, and an open socket is
closed as soon as its session is revoked or its access token expires.

The handshake is authenticated by the app's one `Authenticator`, with the same rules as HTTP:
the `Authorization: Bearer` header (from any client), and in cookie projects the access cookie
from the service's own pages only (transport/cookies.py). Never a token in the query string:
URLs end up in access logs, proxy logs and browser history (RFC 6750 section 5.3).

A refused handshake is closed with 1008 (policy violation) before it is accepted, which the
server answers with HTTP 403; the reason stays on the server, as for HTTP. An accepted socket
outlives the request that opened it, so `hold_session` re-checks what `verify_access` checked
once: it closes the socket with 1008 and the reason `SESSION_ENDED` once the session is revoked
(noticed within REVOCATION_POLL_SECONDS) or the access token expires. The client then refreshes
its tokens and connects again, as after an HTTP 401.
"""

import time
from collections.abc import Awaitable, Callable
from contextlib import suppress

import anyio
from fastapi import WebSocket, WebSocketDisconnect, WebSocketException, status
from fastapi.security import SecurityScopes

from ..security.revocation import RevokedSessions
from ..security.tokens import Claims
from .authenticator import CLAIMS_STATE_KEY
from .exceptions import AuthenticationError
from .services import Services

# RFC 6455 section 7.4.1: the message (here, the handshake or the session) broke the policy.
POLICY_VIOLATION = status.WS_1008_POLICY_VIOLATION
# The close reason of a socket whose session ended: the same words as HTTP's 401.
SESSION_ENDED = "Invalid or expired token"


async def websocket_claims(websocket: WebSocket, security_scopes: SecurityScopes) -> Claims:
    """The verified claims of a WebSocket handshake, holding every scope the route asks for
    (`Security(websocket_claims, scopes=[...])`); otherwise the handshake is closed with 1008.

    Reuses what AuthMiddleware verified, when the project has it, like `verify_request`.
    """
    claims: Claims | None = websocket.scope.get("state", {}).get(CLAIMS_STATE_KEY)
    if claims is None:
        services: Services = websocket.app.state.services
        try:
            claims = services.authenticator.authenticate(websocket.scope)
        except AuthenticationError:
            # Raised before `accept()`: Starlette closes the handshake, the server sends 403.
            raise WebSocketException(POLICY_VIOLATION) from None
    if not claims.scopes.issuperset(security_scopes.scopes):
        raise WebSocketException(POLICY_VIOLATION)
    return claims


async def session_ended(
    claims: Claims, revoked: RevokedSessions, *, poll_seconds: float, leeway_seconds: int
) -> None:
    """Return once the session of `claims` is revoked or its access token has expired.

    A set lookup in memory every `poll_seconds`: the token stores keep `revoked` in sync, so
    this is as fast as revocation can be noticed, and costs no round trip. Expiry is the
    moment `TokenService.verify_access` would start refusing the token.
    """
    expires = claims.expires_at + leeway_seconds
    while not revoked.is_revoked(claims.session_id):
        remaining = expires - time.time()
        if remaining <= 0:
            return
        await anyio.sleep(min(poll_seconds, remaining))


async def hold_session(
    websocket: WebSocket, claims: Claims, serve: Callable[[], Awaitable[None]]
) -> None:
    """Run `serve` (the accepted socket's conversation) until it returns, or until the session
    ends: then `serve` is cancelled and the socket closed with 1008 and `SESSION_ENDED`.

    A client that went away while being answered ends the conversation quietly: that is how
    sockets end, not an error to log.
    """
    services: Services = websocket.app.state.services
    ended = False
    async with anyio.create_task_group() as tasks:

        async def watch() -> None:
            nonlocal ended
            await session_ended(
                claims,
                services.backend.revoked,
                poll_seconds=services.settings.revocation_poll_seconds,
                leeway_seconds=services.settings.jwt_leeway_seconds,
            )
            ended = True
            tasks.cancel_scope.cancel()

        tasks.start_soon(watch)
        with suppress(WebSocketDisconnect):
            await serve()
        tasks.cancel_scope.cancel()
    if ended:
        with suppress(WebSocketDisconnect):
            await websocket.close(POLICY_VIOLATION, SESSION_ENDED)
