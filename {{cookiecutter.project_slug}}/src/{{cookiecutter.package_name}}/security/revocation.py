"""The revoked-session list every worker keeps in memory.

Every token of a session carries its id in `sid`. Revoking the session revokes its access
tokens too: each worker keeps the revoked session ids in memory and refuses them
(`TokenService.verify_access`), without a database round-trip per request. The token stores
(auth/stores/) keep that list in sync across workers.
"""

import time


class RevokedSessions:
    """Revoked session ids, each kept until no access token of that session can be valid."""

    def __init__(self) -> None:
        self._until: dict[str, float] = {}

    def add(self, session_id: str, until: float) -> None:
        self._until[session_id] = max(until, self._until.get(session_id, 0.0))

    def is_revoked(self, session_id: str) -> bool:
        return session_id in self._until

    def purge(self, now: float | None = None) -> None:
        """Forget entries whose access tokens have all expired anyway."""
        now = time.time() if now is None else now
        self._until = {sid: until for sid, until in self._until.items() if until > now}

    def __len__(self) -> int:
        return len(self._until)
