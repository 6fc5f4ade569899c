"""The error answers routes document in OpenAPI, one table per kind, combined with `|`."""

from typing import Any

from fastapi import HTTPException, status

from ..security.throttle import ThrottledError
from .schemas import ErrorResponse, OAuth2Error

Responses = dict[int | str, dict[str, Any]]

UNAUTHORIZED: Responses = {
    401: {"model": ErrorResponse, "description": "Missing, invalid or expired credentials"}
}
THROTTLED: Responses = {
    429: {"model": ErrorResponse, "description": "Too many failed attempts; see Retry-After"}
}
# A body the app cannot read: not decodable (bad UTF-8 in JSON, broken form encoding), or
# over MAX_BODY_BYTES, refused before it is read (body_limit.py).
UNREADABLE_BODY: Responses = {
    400: {"model": ErrorResponse, "description": "Request body could not be parsed"},
    413: {"model": ErrorResponse, "description": "Request body too large"},
}
# The database (or another backend) cannot be reached: try again later; never a traceback.
UNAVAILABLE: Responses = {
    503: {"model": ErrorResponse, "description": "Service temporarily unavailable"}
}
# The token endpoint's refusals (RFC 6749 section 5.2), and what FastAPI answers before the
# route runs to a body it cannot decode or that is too large.
TOKEN_ERRORS: Responses = {
    400: {
        "model": OAuth2Error | ErrorResponse,
        "description": "Refused grant or malformed request (RFC 6749 section 5.2: `error`, "
        "`error_description`); `detail` only for a body that could not be decoded",
    },
    413: UNREADABLE_BODY[413],
}


def too_many_attempts(error: ThrottledError, detail: str) -> HTTPException:
    """429 with Retry-After: the seconds until the full bucket has a free slot again."""
    return HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS, detail, headers={"Retry-After": str(error.retry_after)}
    )
