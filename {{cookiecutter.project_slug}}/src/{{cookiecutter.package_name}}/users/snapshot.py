"""The authenticated user as routes see it (`CurrentUser`)."""

import uuid
from dataclasses import dataclass
from datetime import datetime

from .models import User


@dataclass(frozen=True, slots=True)
class UserSnapshot:
    """The authenticated user as routes see it: read-only, and without the password hash, so
    the cache keeps no hash in memory and a route cannot write a stale copy back.
    To change the user, load the row in your own session (`repository.get_by_id`)."""

    id: uuid.UUID
    username: str
    is_active: bool
    role: str
    created_at: datetime

    @classmethod
    def of(cls, user: User) -> "UserSnapshot":
        return cls(user.id, user.username, user.is_active, user.role, user.created_at)
