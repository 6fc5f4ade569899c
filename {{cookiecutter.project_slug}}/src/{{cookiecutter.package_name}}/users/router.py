"""/users endpoints."""

from fastapi import APIRouter

from ..auth.dependencies import CurrentUser
from ..auth.router import UNAUTHORIZED, UNAVAILABLE
from .models import User
from .schemas import UserPublic

router = APIRouter(prefix="/users", tags=["users"])


@router.get("/me", response_model=UserPublic, responses=UNAUTHORIZED | UNAVAILABLE)
async def read_me(user: CurrentUser) -> User:
    """The authenticated user, loaded from the database."""
    return user
