"""Claims of your own that every access token carries, beside the ones the JWT core needs.

To add one, return it from `custom_claims` (any JSON value: a string, a number, a list, an
object) and read it in a route as `claims.extra["name"]` (`claims: CurrentClaims`). Login
and refresh both issue through here, so a refreshed token carries the user's current values.
The core's own names (`sub`, `sid`, `exp`, ...) are refused. Tokens are signed, not
encrypted: never put a secret in a claim.
"""

from typing import Any

from ..users.models import User


def custom_claims(user: User) -> dict[str, Any]:
    """The application's own claims for `user`'s access tokens; none by default."""
    return {}
