"""The body of POST /auth/register."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, create_model

from ...security.passwords import MAX_PASSWORD_LENGTH
from ...users.models import MAX_USERNAME_LENGTH


class RegisterRequest(BaseModel):
    # Unknown fields are refused, so `"is_active": ...` or any future column can never be
    # set by the caller (mass assignment).
    model_config = ConfigDict(extra="forbid")

    username: Annotated[str, Field(min_length=1, max_length=MAX_USERNAME_LENGTH)]
    password: Annotated[str, Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)]


def register_request(min_password_length: int) -> type[RegisterRequest]:
    """RegisterRequest whose OpenAPI schema states the configured PASSWORD_MIN_LENGTH, so that
    clients see the real rule. A shorter password still passes this model and reaches the
    password policy, whose 422 names the rule it broke (`password_too_short`)."""
    password = Field(
        min_length=1,
        max_length=MAX_PASSWORD_LENGTH,
        json_schema_extra={"minLength": min_password_length},
    )
    return create_model(
        "RegisterRequest", __base__=RegisterRequest, password=(Annotated[str, password], ...)
    )
