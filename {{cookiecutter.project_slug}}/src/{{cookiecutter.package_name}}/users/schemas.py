"""What the API shows of a user: never the password hash."""

import uuid
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, field_validator


class UserPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    username: str
    is_active: bool
    created_at: datetime

    @field_validator("created_at")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        # The column's default (CURRENT_TIMESTAMP) is UTC, but SQLite hands it back without an
        # offset; the OpenAPI `date-time` format (RFC 3339) requires one, and clients would
        # otherwise read the time in their own zone.
        return value if value.tzinfo else value.replace(tzinfo=UTC)
