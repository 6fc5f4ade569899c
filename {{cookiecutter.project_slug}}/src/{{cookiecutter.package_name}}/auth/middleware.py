"""AuthMiddleware: every HTTP request and WebSocket handshake needs a valid access token unless
its path is public.

Routes keep their own `CurrentClaims` / `CurrentUser` dependencies; the middleware is the
safety net for a route that forgot one. It is a pure ASGI middleware: Starlette's
`BaseHTTPMiddleware` would add a task and a streamed copy of every response.
"""

from collections.abc import Iterable

from fastapi import FastAPI, status
from starlette._utils import get_route_path
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from .authenticator import CLAIMS_STATE_KEY, Authenticator
from .exceptions import AuthenticationError
from .services import Services


def install_auth_middleware(app: FastAPI, services: Services) -> None:
    """Put the middleware around the app: installed last, it runs first."""
    app.add_middleware(
        AuthMiddleware,
        authenticator=services.authenticator,
        public_paths=services.settings.public_paths,
    )


class AuthMiddleware:
    """Authenticates HTTP requests with the app's one `Authenticator`.

    A path is public only if it is exactly, character for character, in `public_paths`. It is
    compared with the same string the router dispatches on (Starlette's own route path:
    percent-decoded by the server, root_path removed, nothing else), so no spelling of a path
    can be public here yet reach a protected route there: `//users/me`, `/users/me/`,
    `/auth/../users/me` and `/USERS/ME` are simply other, non-public paths, which need a
    token like any other. Nothing is normalised, because normalising is how a protected path
    gets mistaken for a public one. Every method is treated alike, HEAD and OPTIONS included.

    A WebSocket handshake is authenticated the same way and refused with close code 1008
    before it is accepted (the server answers HTTP 403); a WebSocket route still checks its
    own scopes, and `hold_session` closes the socket when the session ends. Lifespan scopes
    pass through untouched.
    """

    def __init__(
        self, app: ASGIApp, *, authenticator: Authenticator, public_paths: Iterable[str]
    ) -> None:
        self.app = app
        self._authenticator = authenticator
        self._public_paths = frozenset(public_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" or get_route_path(scope) in self._public_paths:
            await self.app(scope, receive, send)
            return
        try:
            claims = self._authenticator.authenticate(scope)
        except AuthenticationError as exc:
            if scope["type"] == "websocket":
                await refuse_handshake(receive, send)
                return
            # The same answer FastAPI gives for the dependency's HTTPException.
            response = JSONResponse(
                {"detail": exc.detail}, status_code=exc.status_code, headers=dict(exc.headers)
            )
            await response(scope, receive, send)
            return
        state = scope.get("state")
        if state is None:
            scope["state"] = state = {}
        state[CLAIMS_STATE_KEY] = claims
        await self.app(scope, receive, send)


async def refuse_handshake(receive: Receive, send: Send) -> None:
    """Close a WebSocket handshake with 1008 before accepting it. The ASGI server sends
    `websocket.connect` first and turns a close before accept into an HTTP 403."""
    message = await receive()
    if message["type"] == "websocket.connect":
        await send({"type": "websocket.close", "code": status.WS_1008_POLICY_VIOLATION})
