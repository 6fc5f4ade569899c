"""Where the service's own log records go, as text or one JSON object per line (LOG_FORMAT).

Only the `{{ cookiecutter.package_name }}` logger gets a handler; uvicorn and other libraries
keep their own configuration. The uvicorn access log loses query strings: the API never takes
a token there, but a misbehaving client may put one in, and it must not land in the logs.
"""

import json
import logging
import re
import sys
from typing import Any, Literal, TextIO

from .audit import AUDIT_FIELDS

_HANDLER_NAME = "{{ cookiecutter.package_name }}"
_PACKAGE_LOGGER = "{{ cookiecutter.package_name }}"


# What ids, addresses and event names are made of: such a value needs no quotes.
_BARE_VALUE = re.compile(r"[A-Za-z0-9_.:@/+-]+")


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in AUDIT_FIELDS if hasattr(record, name)}


def logfmt_value(value: object) -> str:
    """`value` as one field value of a text line: bare when it is plainly one token, else in
    double quotes with JSON's escapes (quotes, backslashes, control and non-ASCII characters),
    so no space, `=`, quote or line break in it can start a field or a line of its own (OWASP
    Logging Cheat Sheet: log injection)."""
    text = str(value)
    return text if _BARE_VALUE.fullmatch(text) else json.dumps(text)


class TextFormatter(logging.Formatter):
    """`time level logger message key=value ...`, for people reading a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        fields = _fields(record).items()
        pairs = " ".join(f"{name}={logfmt_value(value)}" for name, value in fields if value)
        text = super().format(record)
        return f"{text} {pairs}" if pairs else text


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log pipelines."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        } | _fields(record)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is when a record comes, not when the app was built:
    test runners and CLI runners swap it, and a closed stream must not swallow audit events."""

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _: TextIO) -> None:
        """The stream is always the current stderr; StreamHandler's own assignment is ignored."""


class DropQueryString(logging.Filter):
    """Cut the query string from uvicorn access-log lines (the path is argument 2)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) >= 3:
            path = record.args[2]
            if isinstance(path, str) and "?" in path:
                args = list(record.args)
                args[2] = path.partition("?")[0]
                record.args = tuple(args)
        return True


def configure_logging(log_format: Literal["text", "json"]) -> None:
    """Send the package's INFO+ records to stderr; safe to call again (replaces its handler)."""
    package = logging.getLogger(_PACKAGE_LOGGER)
    for handler in [h for h in package.handlers if h.get_name() == _HANDLER_NAME]:
        package.removeHandler(handler)
    handler = StderrHandler()
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    package.addHandler(handler)
    if package.level == logging.NOTSET:
        package.setLevel(logging.INFO)
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, DropQueryString) for f in access.filters):
        access.addFilter(DropQueryString())
