"""A start-up that fails for a reason the operator can fix is one line, not a traceback.

Starlette reports any exception raised while the app starts as the full traceback in its
`lifespan.startup.failed` message, which uvicorn prints. For a database that is not ready
(DatabaseNotReadyError) that page hides the one line that matters, so this pure ASGI
middleware sends that line instead. Other exceptions are reported as before: they are bugs,
and their traceback is wanted.
"""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .db.schema import DatabaseNotReadyError


class StartupErrorMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        failures: list[Message] = []

        async def hold_failure(message: Message) -> None:
            # Starlette sends the failure before it re-raises: hold it until the exception
            # says which kind of failure it was.
            if message["type"] == "lifespan.startup.failed":
                failures.append(message)
            else:
                await send(message)

        try:
            await self.app(scope, receive, hold_failure)
        except DatabaseNotReadyError as exc:
            await send({"type": "lifespan.startup.failed", "message": str(exc)})
        except BaseException:
            for message in failures:
                await send(message)
            raise
