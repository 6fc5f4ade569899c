"""A WebSocket client for tests that drives the app in-process, on the test's own event loop.

Starlette's TestClient runs the app on an event loop of its own, in another thread, and blocks
the test while it waits: the app of the `app` fixture (its database and Redis connections, its
revocation sync) lives on the test's loop, and would stand still. This client speaks ASGI to
the app directly, as uvicorn would, and every wait has a timeout, so a socket that is never
closed fails the test instead of hanging it.
"""

import asyncio
import json
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager, suppress
from typing import Any

from fastapi import FastAPI

# Only a failing test waits this long.
TIMEOUT_SECONDS = 5.0

Message = dict[str, Any]


class HandshakeRefused(Exception):
    """The app closed the handshake instead of accepting it (the server would answer 403)."""

    def __init__(self, code: int) -> None:
        super().__init__(f"handshake refused with close code {code}")
        self.code = code


class WebSocketSession:
    """An accepted WebSocket: send text or bytes, receive JSON, wait for the app to close."""

    def __init__(
        self,
        app_task: asyncio.Task[None],
        to_app: asyncio.Queue[Message],
        from_app: asyncio.Queue[Message],
    ) -> None:
        self._app_task = app_task
        self._to_app = to_app
        self._from_app = from_app
        # Set by `vanish`: the connection is gone, and the app's next send fails.
        self.gone = False

    async def next_message(self) -> Message:
        """The app's next message; the app's own exception if it crashed instead."""
        getter = asyncio.ensure_future(self._from_app.get())
        done, _ = await asyncio.wait(
            {getter, self._app_task}, timeout=TIMEOUT_SECONDS, return_when=asyncio.FIRST_COMPLETED
        )
        if getter in done:
            return getter.result()
        getter.cancel()
        if self._app_task in done:
            self._app_task.result()
            raise AssertionError("the app returned without sending anything more")
        raise TimeoutError(f"no message from the app within {TIMEOUT_SECONDS} s")

    async def send_text(self, text: str) -> None:
        await self._to_app.put({"type": "websocket.receive", "text": text})

    async def send_bytes(self, data: bytes) -> None:
        await self._to_app.put({"type": "websocket.receive", "bytes": data})

    def vanish(self) -> None:
        """The connection drops: the app's sends fail from now on, as uvicorn's do once the
        peer is gone (an OSError)."""
        self.gone = True

    async def receive_json(self) -> Any:
        message = await self.next_message()
        assert message["type"] == "websocket.send", message
        return json.loads(message["text"])

    async def closed(self) -> tuple[int, str]:
        """Wait for the app to close the socket: its close code and reason."""
        message = await self.next_message()
        assert message["type"] == "websocket.close", message
        return message.get("code", 1000), message.get("reason") or ""


@asynccontextmanager
async def connect(
    app: FastAPI,
    path: str = "/ws",
    headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
    *,
    query_string: bytes = b"",
    scheme: str = "ws",
) -> AsyncIterator[WebSocketSession]:
    """Open a WebSocket to `app` (Host `test`); HandshakeRefused if the app closes the
    handshake. On the way out the client disconnects and waits for the app to finish."""
    raw_headers = [(b"host", b"test")] + [
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in (headers.items() if isinstance(headers, Mapping) else headers)
    ]
    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "scheme": scheme,
        "server": ("test", 80),
        "client": ("127.0.0.1", 50000),
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query_string,
        "headers": raw_headers,
        "subprotocols": [],
    }
    to_app: asyncio.Queue[Message] = asyncio.Queue()
    from_app: asyncio.Queue[Message] = asyncio.Queue()
    await to_app.put({"type": "websocket.connect"})
    session: WebSocketSession

    async def send(message: Message) -> None:
        if session.gone:
            raise OSError("the connection is gone")
        await from_app.put(message)

    app_task = asyncio.create_task(app(scope, to_app.get, send))
    session = WebSocketSession(app_task, to_app, from_app)
    try:
        first = await session.next_message()
        if first["type"] == "websocket.close":
            raise HandshakeRefused(first.get("code", 1000))
        assert first["type"] == "websocket.accept", first
        yield session
    finally:
        await to_app.put({"type": "websocket.disconnect", "code": 1000})
        try:
            await asyncio.wait_for(app_task, TIMEOUT_SECONDS)
        finally:
            if not app_task.done():
                app_task.cancel()
                with suppress(asyncio.CancelledError):
                    await app_task
