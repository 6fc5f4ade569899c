"""The authenticated user as routes see it (`CurrentUser`)."""

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from .models import User
from .schemas import UserPublic


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
    # The user as the API shows it (UserPublic's JSON), rendered once per load: /users/me sends
    # these bytes instead of validating and serializing the same snapshot on every request.
    public_json: bytes = field(default=b"", repr=False, compare=False)

    @classmethod
    def of(cls, user: User) -> "UserSnapshot":
        public = UserPublic.model_validate(user).model_dump_json().encode()
        return cls(user.id, user.username, user.is_active, user.role, user.created_at, public)

    def public(self) -> bytes:
        """UserPublic's JSON of this user (rendered now if the snapshot was built without it)."""
        return self.public_json or UserPublic.model_validate(self).model_dump_json().encode()
