"""The body of POST /auth/register."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from ...security.passwords import MAX_PASSWORD_LENGTH
from ...users.models import MAX_USERNAME_LENGTH


class RegisterRequest(BaseModel):
    # Unknown fields are refused, so `"is_active": ...` or any future column can never be
    # set by the caller (mass assignment).
    model_config = ConfigDict(extra="forbid")

    username: Annotated[str, Field(min_length=1, max_length=MAX_USERNAME_LENGTH)]
    password: Annotated[str, Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)]
