"""Schemathesis hooks for test_fuzz.py, loaded by `st run` through SCHEMATHESIS_HOOKS.

Every generated request that the schema says needs a token gets a fresh one: the provider
logs in anew for each case (no caching). Fuzzing /auth/logout and /auth/logout-all revokes the
session of the case that called them, so a shared token would turn every later case into a
401 and leave the authenticated code paths unfuzzed.

The fuzzer is an admin, and it must stay one that can log in: see `before_call`.
"""

import os
import re

import httpx
import schemathesis

# Request fields whose values are secrets: no answer may repeat them.
SECRET_FIELD = re.compile(r"password|token|secret", re.IGNORECASE)
# Shorter values could turn up in an answer by chance (a status, a number).
MIN_SECRET_LENGTH = 8
# Admin operations that, aimed at the fuzzer's own account, would lock it out of the rest of
# the run: a deactivated fuzzer cannot log in (400 invalid_grant), a demoted one gets 403s.
SELF_LOCKOUT = {
    ("POST", "/admin/users/{user_id}/deactivate"),
    ("PUT", "/admin/users/{user_id}/role"),
}
# A well-formed id that no user has: the swapped case gets the documented 404.
NO_SUCH_USER = "fuzzer-left-its-own-account-alone"


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


@schemathesis.hook
def before_call(
    ctx: schemathesis.HookContext, case: schemathesis.Case, kwargs: dict[str, object]
) -> None:
    """Aim the lockout operations at no one when they are aimed at the fuzzer itself.

    On its own the fuzzer is the last active admin, and the API refuses to demote or
    deactivate it (409). The stateful phase can break that: it registers a user, makes them
    an admin through a link, then follows /users/me's id to deactivate the fuzzer, which is
    then no longer the last admin. Every later login of `FreshLogin` fails, and Schemathesis
    stops with a runtime error. That a last admin stays is the rendered tests' subject.
    """
    own_account = (case.path_parameters or {}).get("user_id") == os.environ["FUZZ_USER_ID"]
    if own_account and (case.method.upper(), case.path) in SELF_LOCKOUT:
        case.path_parameters = {**case.path_parameters, "user_id": NO_SUCH_USER}


@schemathesis.check
def no_secret_echoed(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> None:
    """No answer repeats a password, token or secret the request sent: an answer ends up in
    logs and APM tools that record bodies (422s once echoed a 1,027-character password)."""
    fields: dict[str, object] = {}
    for part in (case.body, case.query):
        if isinstance(part, dict):
            fields |= {str(name): value for name, value in part.items()}
    others = {str(value) for name, value in fields.items() if not SECRET_FIELD.search(name)}
    sent = [
        value
        for name, value in fields.items()
        if SECRET_FIELD.search(name)
        and isinstance(value, str)
        and len(value) >= MIN_SECRET_LENGTH
        and value not in others
    ]
    authorization = (case.headers or {}).get("Authorization", "")
    if authorization.startswith("Bearer "):
        sent.append(authorization.removeprefix("Bearer "))
    echoed = [value for value in sent if value in response.text]
    if echoed:
        raise AssertionError(f"the answer repeats {len(echoed)} secret value(s) of the request")
