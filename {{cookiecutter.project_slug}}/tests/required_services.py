"""What a test does when a server it needs (PostgreSQL, Redis) is not running."""

import os
from typing import NoReturn

import pytest


def require_service(problem: str) -> NoReturn:
    """Skip a test whose server is not running; with REQUIRE_SERVICES=1 (CI), fail it instead,
    so that a missing server can never turn a red run into a green one."""
    if os.environ.get("REQUIRE_SERVICES") == "1":
        pytest.fail(f"{problem} (REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(problem)
