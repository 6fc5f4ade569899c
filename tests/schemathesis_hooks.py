"""Schemathesis hooks for test_fuzz.py, loaded by `st run` through SCHEMATHESIS_HOOKS.

Every generated request that the schema says needs a token gets a fresh one: the provider
logs in anew for each case (no caching). Fuzzing /auth/logout and /auth/logout-all revokes the
session of the case that called them, so a shared token would turn every later case into a
401 and leave the authenticated code paths unfuzzed.
"""

import os

import httpx
import schemathesis


@schemathesis.auth(refresh_interval=None)
class FreshLogin:
    """A new session per case, for the user the test created (FUZZ_USERNAME/FUZZ_PASSWORD)."""

    def get(self, case: schemathesis.Case, context: schemathesis.AuthContext) -> str:
        response = httpx.post(
            f"{os.environ['FUZZ_BASE_URL']}/auth/login",
            data={
                "grant_type": "password",
                "username": os.environ["FUZZ_USERNAME"],
                "password": os.environ["FUZZ_PASSWORD"],
            },
            timeout=10,
        )
        response.raise_for_status()
        return response.json()["access_token"]

    def set(self, case: schemathesis.Case, data: str, context: schemathesis.AuthContext) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}
