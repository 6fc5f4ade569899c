"""Request and response bodies of the auth endpoints."""

from typing import Literal

from pydantic import BaseModel, Field

from ..security.tokens import MAX_TOKEN_LENGTH


class TokenResponse(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (a token type name, not a secret)
    expires_in: int = Field(description="Seconds until the access token expires.")


class RefreshRequest(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=MAX_TOKEN_LENGTH)


class LogoutRequest(BaseModel):
    refresh_token: str | None = Field(default=None, max_length=MAX_TOKEN_LENGTH)


class ErrorResponse(BaseModel):
    detail: str
