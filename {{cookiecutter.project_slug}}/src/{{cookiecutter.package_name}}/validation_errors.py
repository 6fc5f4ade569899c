"""422 answers that say what is wrong with a request without repeating the request.

FastAPI's own handler returns every error with its `input`: a refused 1,027-character password
or 4,103-character refresh token came back whole, to be kept by proxies, browser caches and
client logs (OWASP Error Handling Cheat Sheet: an error answer carries no sensitive data). Here
every error keeps its `type`, `loc` and `msg`, so clients parse the same structure, but never
its `input`, for any field: a handler cannot tell a password from a name, and a client already
has what it sent. `ctx` keeps only the limits of the broken rule (`max_length`, `pattern`, ...),
which the OpenAPI document publishes anyway; parser and validator messages in it, which may
quote the input, are dropped.

Starlette encodes answers as UTF-8, which a lone surrogate (`"\\ud800"` in JSON) cannot take:
echoed, it turned a 422 into a 500. Nothing echoed now, and a client-chosen key in `loc` (an
unknown field's name) has such characters replaced.
"""

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

# ctx entries that describe the rule, never the input (pydantic-core's error context names).
RULE_CONTEXT = frozenset(
    {
        "max_length",
        "min_length",
        "ge",
        "gt",
        "le",
        "lt",
        "multiple_of",
        "pattern",
        "expected",
        "max_digits",
        "decimal_places",
    }
)


def _location_part(part: object) -> str | int:
    if isinstance(part, int):
        return part
    return str(part).encode("utf-8", "replace").decode("utf-8")


def public_error(error: Mapping[str, Any]) -> dict[str, object]:
    """One validation error as the client sees it: what and where, never the value."""
    public: dict[str, object] = {
        "type": error["type"],
        "loc": [_location_part(part) for part in error["loc"]],
        "msg": error["msg"],
    }
    rule = {
        name: value
        for name, value in error.get("ctx", {}).items()
        if name in RULE_CONTEXT and isinstance(value, str | int | float)
    }
    if rule:
        public["ctx"] = rule
    return public


async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    """The 422 answer to a request that failed validation."""
    detail = [public_error(error) for error in exc.errors()]
    return JSONResponse({"detail": detail}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


def install_validation_errors(app: FastAPI) -> None:
    """Answer validation errors with `validation_error` instead of FastAPI's echoing handler."""
    app.exception_handler(RequestValidationError)(validation_error)
