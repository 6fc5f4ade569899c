"""Request and response bodies of the auth endpoints."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..security.passwords import MAX_PASSWORD_LENGTH
from ..security.tokens import MAX_TOKEN_LENGTH


class TokenResponse(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (a token type name, not a secret)
    expires_in: int = Field(description="Seconds until the access token expires.")
    scope: str = Field(description="The granted scopes, space-separated (RFC 6749 5.1).")


class RefreshRequest(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=MAX_TOKEN_LENGTH)


class LogoutRequest(BaseModel):
    refresh_token: str | None = Field(default=None, max_length=MAX_TOKEN_LENGTH)


class ErrorResponse(BaseModel):
    detail: str


class TokenRequest(BaseModel):
    """The token endpoint's form (RFC 6749 sections 4.3.2 and 6). Every field is optional
    here so that the route, not FastAPI's 422, answers a malformed request, as RFC 6749
    section 5.2 wants (`invalid_request`). Other members (`client_id`, which public-client
    libraries send) are ignored."""

    grant_type: str | None = Field(default=None, description="`password` or `refresh_token`.")
    username: str | None = Field(default=None, description="For the password grant.")
    password: str | None = Field(default=None, description="For the password grant.")
    refresh_token: str | None = Field(default=None, description="For the refresh grant.")
    scope: str | None = Field(
        default=None,
        description="Space-separated scopes to ask for; by default all the user's role allows.",
    )


class OAuth2Error(BaseModel):
    """A refused token or revocation request (RFC 6749 section 5.2)."""

    error: Literal["invalid_request", "invalid_grant", "unsupported_grant_type", "invalid_scope"]
    error_description: str


class RevocationRequest(BaseModel):
    """The revocation form (RFC 7009 section 2.1)."""

    token: str | None = Field(default=None, description="An access or refresh token.")
    token_type_hint: str | None = Field(
        default=None,
        description="`access_token` or `refresh_token`; accepted and not needed, since every "
        "token says its own type.",
    )


class AuthorizationServerMetadata(BaseModel):
    """The members of RFC 8414 section 2 that describe this server."""

    issuer: str
    token_endpoint: str
    revocation_endpoint: str
    jwks_uri: str | None = None
    grant_types_supported: list[str]
    response_types_supported: list[str]
    token_endpoint_auth_methods_supported: list[str]
    revocation_endpoint_auth_methods_supported: list[str]


class SessionPublic(BaseModel):
    """One of the caller's live sessions (GET /auth/sessions)."""

    id: str = Field(description="The session id: the `sid` claim of its tokens.")
    created_at: datetime = Field(description="When the session's login happened.")
    last_used_at: datetime = Field(description="Its login or latest refresh.")
    client: str | None = Field(description="The address of that login or refresh, if known.")
    user_agent: str | None = Field(
        description="The User-Agent of that login or refresh (at most 256 characters)."
    )
    current: bool = Field(description="Whether this is the session making the request.")


class PasswordChangeRequest(BaseModel):
    """POST /users/me/password. Unknown fields are refused (mass assignment)."""

    model_config = ConfigDict(extra="forbid")

    current_password: Annotated[str, Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)]
    new_password: Annotated[str, Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)]
