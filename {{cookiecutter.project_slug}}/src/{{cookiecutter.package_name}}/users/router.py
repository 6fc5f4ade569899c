"""/users endpoints."""

from fastapi import APIRouter

from ..auth.dependencies import CurrentUser
from ..auth.router import UNAUTHORIZED, UNAVAILABLE
from .cache import UserSnapshot
from .schemas import UserPublic

router = APIRouter(prefix="/users", tags=["users"])


@router.get("/me", response_model=UserPublic, responses=UNAUTHORIZED | UNAVAILABLE)
async def read_me(user: CurrentUser) -> UserSnapshot:
    """The authenticated user, from the database or the few-seconds user cache."""
    return user
