"""Roles, and the OAuth2 scopes each one grants.

A user has one role; the role decides which scopes their access tokens may carry (the `scope`
claim, RFC 9068 section 2.2.3), and routes ask for scopes, never for roles:
`Security(bearer_auth, scopes=["admin"])`. Checking a scope is a set lookup on the verified
token, with no database round trip. Changing a user's role ends their sessions
(`AccountService.set_role`), so no token outlives the role it was issued under.

To add a scope: name and describe it in SCOPES (Swagger UI's Authorize dialog lists them),
grant it to the roles that should have it in ROLE_SCOPES, and declare it on the routes that
need it.
"""

import enum


class Role(enum.StrEnum):
    USER = "user"
    ADMIN = "admin"


# Every scope the service issues, with what it lets a token do.
SCOPES: dict[str, str] = {
    "profile": "Read and manage your own account, password and sessions.",
    "admin": "Manage every user: list them, change roles, deactivate, end sessions.",
}

ROLE_SCOPES: dict[Role, frozenset[str]] = {
    Role.USER: frozenset({"profile"}),
    Role.ADMIN: frozenset({"profile", "admin"}),
}


def scopes_of(role: str) -> frozenset[str]:
    """The scopes a user of `role` may hold; none for a role this code does not know."""
    try:
        return ROLE_SCOPES[Role(role)]
    except ValueError:
        return frozenset()
