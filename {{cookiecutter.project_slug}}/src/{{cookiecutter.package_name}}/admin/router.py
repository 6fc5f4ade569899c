"""/admin/users: user administration over HTTP.

Every route needs an access token with the `admin` scope whose session logged in within
FRESH_AUTH_MINUTES (`AdminClaims`): 401 without a valid token, 401
`insufficient_user_authentication` for an older login, 403 `insufficient_scope` without the
scope (a user's token, or an admin's that asked for `scope=profile` only). A user id that is
unknown or not a UUID is 404, never 422. Changes go through AccountService, the same code as
the command line; each action is an audit event naming the acting admin (`actor`).
"""

import uuid
from typing import Annotated

from fastapi import APIRouter, FastAPI, HTTPException, Query, status

from ..audit import audit
from ..auth.accounts import LastAdminError, UnknownUserError
from ..auth.client_address import ClientAddress
from ..auth.dependencies import AccountServiceDep, AdminClaims, SessionmakerDep
from ..auth.responses import UNAVAILABLE, UNREADABLE_BODY, Responses
from ..auth.schemas import ErrorResponse
from ..auth.services import Services
from ..users import repository as users
from ..users.models import User
from .schemas import AdminUser, RoleChange, UserPage

router = APIRouter(prefix="/admin/users", tags=["admin"])

MAX_PAGE_SIZE = 100

# The refusals every admin route documents, besides its own.
ADMIN_ERRORS: Responses = {
    401: {
        "model": ErrorResponse,
        "description": "Missing, invalid or expired credentials, or a login older than "
        "FRESH_AUTH_MINUTES (`insufficient_user_authentication`, RFC 9470)",
    },
    403: {
        "model": ErrorResponse,
        "description": "The token lacks the `admin` scope (`insufficient_scope`)",
    },
} | UNAVAILABLE
NOT_FOUND: Responses = {
    404: {"model": ErrorResponse, "description": "No user has this id (or it is not a UUID)"}
}
LAST_ADMIN: Responses = {
    409: {
        "model": ErrorResponse,
        "description": "The change would leave no active admin: the last one cannot be "
        "demoted or deactivated",
    }
}
LAST_ADMIN_DETAIL = "The last active admin cannot be demoted or deactivated; promote another first"


def install_admin_routes(app: FastAPI, _: Services) -> None:
    app.include_router(router)


def _not_found() -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, "User not found")


async def _read(sessionmaker: SessionmakerDep, user_id: str) -> User:
    async with sessionmaker() as db:
        user = await users.get_by_id(db, user_id)
    if user is None:
        raise _not_found()
    return user


@router.get("", response_model=UserPage, responses=ADMIN_ERRORS)
async def list_users(
    admin: AdminClaims,
    client: ClientAddress,
    sessionmaker: SessionmakerDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Users per page.")] = 50,
    cursor: Annotated[
        uuid.UUID | None,
        Query(description="The previous page's `next_cursor`; omit for the first page."),
    ] = None,
    active: Annotated[
        bool | None, Query(description="Only the active (true) or deactivated (false) users.")
    ] = None,
) -> UserPage:
    """Users, oldest first (by `created_at`, then `id`), `limit` at a time. Pages are keyed
    on the last user shown, so none is repeated or skipped when users are added meanwhile."""
    async with sessionmaker() as db:
        found = await users.list_users(db, limit=limit + 1, after=cursor, active=active)
    page = [AdminUser.model_validate(user) for user in found[:limit]]
    audit("users_listed", actor=admin.user_id, client=client)
    return UserPage(items=page, next_cursor=str(page[-1].id) if len(found) > limit else None)


@router.get("/{user_id}", response_model=AdminUser, responses=ADMIN_ERRORS | NOT_FOUND)
async def read_user(
    user_id: str, admin: AdminClaims, client: ClientAddress, sessionmaker: SessionmakerDep
) -> User:
    """One user: id, username, role, whether they may log in, when they were created."""
    user = await _read(sessionmaker, user_id)
    audit("user_viewed", user_id=str(user.id), actor=admin.user_id, client=client)
    return user


@router.put(
    "/{user_id}/role",
    response_model=AdminUser,
    responses=ADMIN_ERRORS | NOT_FOUND | LAST_ADMIN | UNREADABLE_BODY,
)
async def set_role(
    user_id: str,
    body: RoleChange,
    admin: AdminClaims,
    client: ClientAddress,
    accounts: AccountServiceDep,
    sessionmaker: SessionmakerDep,
) -> User:
    """Give the user a role. A change ends all their sessions, so no token keeps the old
    role's scopes; the role they already have is a no-op that ends nothing. 409 to demote
    the last active admin, yourself included."""
    try:
        await accounts.set_role(user_id, body.role, client=client, actor=admin.user_id)
    except UnknownUserError:
        raise _not_found() from None
    except LastAdminError:
        raise HTTPException(status.HTTP_409_CONFLICT, LAST_ADMIN_DETAIL) from None
    return await _read(sessionmaker, user_id)


async def _set_active(
    user_id: str,
    *,
    active: bool,
    admin: AdminClaims,
    client: ClientAddress,
    accounts: AccountServiceDep,
    sessionmaker: SessionmakerDep,
) -> User:
    try:
        await accounts.set_active(user_id, active=active, client=client, actor=admin.user_id)
    except UnknownUserError:
        raise _not_found() from None
    except LastAdminError:
        raise HTTPException(status.HTTP_409_CONFLICT, LAST_ADMIN_DETAIL) from None
    return await _read(sessionmaker, user_id)


@router.post(
    "/{user_id}/deactivate",
    response_model=AdminUser,
    responses=ADMIN_ERRORS | NOT_FOUND | LAST_ADMIN,
)
async def deactivate_user(
    user_id: str,
    admin: AdminClaims,
    client: ClientAddress,
    accounts: AccountServiceDep,
    sessionmaker: SessionmakerDep,
) -> User:
    """Stop the user from logging in and end all their sessions at once (a no-op for a user
    already deactivated). 409 for the last active admin, yourself included."""
    return await _set_active(
        user_id,
        active=False,
        admin=admin,
        client=client,
        accounts=accounts,
        sessionmaker=sessionmaker,
    )


@router.post("/{user_id}/reactivate", response_model=AdminUser, responses=ADMIN_ERRORS | NOT_FOUND)
async def reactivate_user(
    user_id: str,
    admin: AdminClaims,
    client: ClientAddress,
    accounts: AccountServiceDep,
    sessionmaker: SessionmakerDep,
) -> User:
    """Let a deactivated user log in again (a no-op for an active user). Their old sessions
    stay ended."""
    return await _set_active(
        user_id,
        active=True,
        admin=admin,
        client=client,
        accounts=accounts,
        sessionmaker=sessionmaker,
    )


@router.delete(
    "/{user_id}/sessions",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=ADMIN_ERRORS | NOT_FOUND,
)
async def end_sessions(
    user_id: str, admin: AdminClaims, client: ClientAddress, accounts: AccountServiceDep
) -> None:
    """End every session of the user, on every device and worker: their access and refresh
    tokens stop working. The account stays active: they can log in again."""
    try:
        await accounts.end_sessions(user_id, client=client, actor=admin.user_id)
    except UnknownUserError:
        raise _not_found() from None
