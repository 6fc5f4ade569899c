"""The error answers routes document in OpenAPI, one table per kind, combined with `|`."""

from typing import Any

from fastapi import HTTPException, status

from ..security.throttle import ThrottledError
from .schemas import ErrorResponse, OAuth2Error

Responses = dict[int | str, dict[str, Any]]

UNAUTHORIZED: Responses = {
    401: {"model": ErrorResponse, "description": "Missing, invalid or expired credentials"}
}
# A token without a scope the route declares (RFC 6750 section 3.1: insufficient_scope).
FORBIDDEN: Responses = {
    403: {"model": ErrorResponse, "description": "The token lacks a scope this route needs"}
}
# Not one of the caller's: unknown, someone else's or gone, deliberately alike.
NOT_FOUND: Responses = {404: {"model": ErrorResponse, "description": "No such resource"}}
# RFC 9470: the login is older than FRESH_AUTH_MINUTES; log in again (`max_age`).
STALE_LOGIN: Responses = {
    401: {
        "model": ErrorResponse,
        "description": "Missing, invalid or expired credentials, or a login older than "
        "FRESH_AUTH_MINUTES (`insufficient_user_authentication`, RFC 9470)",
    }
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


def combined(*tables: Responses) -> Responses:
    """The tables as one; a status in several keeps the first model and every description,
    so no answer's explanation is lost to another's (`|` keeps only the last)."""
    merged: Responses = {}
    for table in tables:
        for status_code, answer in table.items():
            if status_code in merged:
                first = merged[status_code]
                description = f"{first['description']}; or {answer['description']}"
                answer = first | {"description": description}
            merged[status_code] = answer
    return merged


def too_many_attempts(error: ThrottledError, detail: str) -> HTTPException:
    """429 with Retry-After: the seconds until the full bucket has a free slot again."""
    return HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS, detail, headers={"Retry-After": str(error.retry_after)}
    )
