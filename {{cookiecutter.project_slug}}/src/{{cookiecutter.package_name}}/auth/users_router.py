"""/users endpoints: they show the authenticated caller, so they live with authentication
(users/ holds the table, the repository and the cache, and knows nothing of tokens)."""

from fastapi import APIRouter, FastAPI

from ..users.schemas import UserPublic
from ..users.snapshot import UserSnapshot
from .dependencies import CurrentUser
from .responses import UNAUTHORIZED, UNAVAILABLE
from .services import Services

router = APIRouter(prefix="/users", tags=["users"])


def install_users_routes(app: FastAPI, _: Services) -> None:
    app.include_router(router)


@router.get("/me", response_model=UserPublic, responses=UNAUTHORIZED | UNAVAILABLE)
async def read_me(user: CurrentUser) -> UserSnapshot:
    """The authenticated user, from the database or the few-seconds user cache."""
    return user
