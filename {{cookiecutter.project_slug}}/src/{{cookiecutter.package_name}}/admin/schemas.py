"""Request and response bodies of the admin API."""

from pydantic import BaseModel, Field

from ..users.roles import Role
from ..users.schemas import UserPublic


class AdminUser(UserPublic):
    """A user as an administrator sees them: never the password hash."""

    role: Role


class UserPage(BaseModel):
    """One page of users, oldest first (by `created_at`, then `id`)."""

    items: list[AdminUser]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page."
    )


class RoleChange(BaseModel):
    role: Role = Field(description="The user's new role.")
