"""WS /ws: an example authenticated WebSocket, to copy for real-time features.

It echoes each text message back with the caller's user id. Everything a real socket needs is
here: the handshake authenticated by `websocket_claims` (with a scope, like an HTTP route's
`Security(bearer_auth, scopes=[...])`), and the conversation run inside `hold_session`, which
closes the socket when the session is revoked or the token expires.
"""

from typing import Annotated

from fastapi import APIRouter, FastAPI, Security, WebSocket, status

from ..security.tokens import Claims
from .services import Services
from .websocket import hold_session, websocket_claims

router = APIRouter()


def install_websocket(app: FastAPI, _: Services) -> None:
    app.include_router(router)


@router.websocket("/ws")
async def echo(
    websocket: WebSocket,
    claims: Annotated[Claims, Security(websocket_claims, scopes=["profile"])],
) -> None:
    """Accept an authenticated handshake, then answer each text message with
    `{"user_id": ..., "echo": ...}`; a binary message closes the socket with 1003."""

    async def conversation() -> None:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:
                await websocket.close(status.WS_1003_UNSUPPORTED_DATA)
                return
            await websocket.send_json({"user_id": claims.user_id, "echo": text})

    await websocket.accept()
    await hold_session(websocket, claims, conversation)
