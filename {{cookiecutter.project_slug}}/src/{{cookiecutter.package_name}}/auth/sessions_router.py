"""/auth/sessions: the caller's sessions (one per login, on each device), listed and ended.

A user who sees a session they do not recognise ends it here, without ending their own
(OWASP Session Management Cheat Sheet: let users see and end their active sessions). Listing
needs the `profile` scope; ending one also needs a recent login, so a stolen access token
cannot throw the owner out while keeping itself in.
"""

import re
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, FastAPI, HTTPException, Path, Request, Response, status

from .client_address import ClientAddress
from .dependencies import AuthenticatorDep, AuthServiceDep, ProfileClaims, RecentProfileClaims
from .exceptions import UnknownSessionError
from .responses import FORBIDDEN, NOT_FOUND, STALE_LOGIN, UNAUTHORIZED, UNAVAILABLE, combined
from .schemas import SessionPublic
from .services import Services
from .transport import TRANSPORT_RESPONSES

router = APIRouter(prefix="/auth/sessions", tags=["sessions"])

# Session ids are uuid4 hex: anything else is answered 404 without asking the store (a NUL
# would make PostgreSQL refuse the query, and a megabyte of path is nobody's session).
_SESSION_ID = re.compile(r"[0-9a-f]{32}")


def install_sessions_routes(app: FastAPI, _: Services) -> None:
    app.include_router(router)


def _time(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


@router.get(
    "",
    response_model=list[SessionPublic],
    responses=combined(UNAUTHORIZED, FORBIDDEN, UNAVAILABLE),
)
async def list_sessions(claims: ProfileClaims, auth: AuthServiceDep) -> list[SessionPublic]:
    """The caller's live sessions, oldest first: not ended, not past their absolute end.
    `current` marks the one making this request."""
    return [
        SessionPublic(
            id=session.session_id,
            created_at=_time(session.created_at),
            last_used_at=_time(session.last_used_at),
            client=session.client,
            user_agent=session.user_agent,
            current=session.session_id == claims.session_id,
        )
        for session in await auth.sessions(claims.user_id)
    ]


@router.delete(
    "/{session_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=combined(STALE_LOGIN, FORBIDDEN, TRANSPORT_RESPONSES, NOT_FOUND, UNAVAILABLE),
)
async def end_session(
    session_id: Annotated[str, Path(description="The `id` from GET /auth/sessions.")],
    request: Request,
    response: Response,
    claims: RecentProfileClaims,
    client: ClientAddress,
    auth: AuthServiceDep,
    authenticator: AuthenticatorDep,
) -> None:
    """End one of the caller's sessions: its refresh token is refused at once, its access
    tokens in this worker at once and in the others within REVOCATION_POLL_SECONDS.

    The calling session may end itself: that is a logout (its cookies are cleared in cookie
    mode), and its tokens are refused from then on. An unknown id, another user's session
    and one already ended are all the same 404."""
    if _SESSION_ID.fullmatch(session_id) is None:
        raise _not_found()
    try:
        await auth.end_session(claims, session_id, client=client)
    except UnknownSessionError:
        raise _not_found() from None
    if session_id == claims.session_id:
        authenticator.session_ended(request, response)


def _not_found() -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, "Session not found")
