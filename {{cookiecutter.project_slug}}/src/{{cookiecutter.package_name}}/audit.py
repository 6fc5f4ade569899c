"""Security audit events on the `{{ cookiecutter.package_name }}.audit` logger.

One record per event (OWASP Logging Cheat Sheet): what happened, to which user id, from which
client address, and for an administrator's action, which administrator (`actor`). The fields
travel as structured `extra` attributes for log pipelines. What is logged is ids and
addresses only: never a token, a password or a username (people type their password into the
username box).
"""

import hashlib
import logging
from ipaddress import ip_address
from typing import Literal

logger = logging.getLogger(__name__)

AuditEvent = Literal[
    "login_succeeded",
    "login_failed",
    "login_throttled",
    "token_refreshed",
    "refresh_token_reused",
    "logout",
    # POST /auth/revoke (RFC 7009) ended a session.
    "token_revoked",
    "sessions_revoked",
    # DELETE /auth/sessions/{id}: the user ended one of their sessions.
    "session_ended",
    # POST /users/me/password: the user changed their password, or failed to.
    "password_changed",
    "password_change_failed",
    # Sign-ups, where the project has registration.
    "user_registered",
    "registration_refused",
    # An administrator (`actor`) or the command line changed an account (admin/router.py,
    # the CLI): `reason` says what changed, e.g. `user->admin`.
    "role_changed",
    "user_deactivated",
    "user_reactivated",
    # An administrator's change refused, e.g. `reason=last_admin`.
    "account_change_refused",
    # An administrator read the user list or one user.
    "users_listed",
    "user_viewed",
]
# The extra attributes an audit record may carry, in the order text logs show them.
AUDIT_FIELDS = ("event", "user_id", "session_id", "actor", "client", "reason")

_WARNINGS = frozenset({"login_throttled", "refresh_token_reused"})
# What `client` may be besides an address: the command line.
_NAMED_CLIENTS = frozenset({"cli"})


def client_field(client: str | None) -> str:
    """The client as logged: an IP address, `cli`, `unknown`, or for anything else `invalid-`
    and a short hash of it. A server or proxy may hand over any text as the peer's address;
    logged raw, it could pose as other fields or lines, or carry a username someone typed."""
    if client is None:
        return "unknown"
    if client in _NAMED_CLIENTS:
        return client
    try:
        return str(ip_address(client))
    except ValueError:
        return "invalid-" + hashlib.sha256(client.encode("utf-8", "replace")).hexdigest()[:12]


def audit(
    event: AuditEvent,
    *,
    client: str | None,
    user_id: str | None = None,
    session_id: str | None = None,
    actor: str | None = None,
    reason: str | None = None,
) -> None:
    """Log one audit event. `client` is an address, `cli` for the command line, or None for
    a request whose address is unknown; `actor` is the id of the administrator who acted on
    `user_id`, if one did."""
    fields = {
        "event": event,
        "user_id": user_id,
        "session_id": session_id,
        "client": client_field(client),
    }
    if actor is not None:
        fields["actor"] = actor
    if reason is not None:
        fields["reason"] = reason
    level = logging.WARNING if event in _WARNINGS else logging.INFO
    logger.log(level, event, extra=fields)
