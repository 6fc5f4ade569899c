"""What a session remembers of the device using it: its address and its User-Agent.

Both are shown to the user in GET /auth/sessions, so they can tell their phone from a
stranger's laptop. Both come from the request, so both are attacker-chosen text: they are
kept printable and bounded before they are stored. A NUL would make PostgreSQL refuse the
row (a 503 for a login), an unbounded header would let one client fill the store.
"""

from typing import Annotated

from fastapi import Depends, Request

# Longer User-Agent strings exist but name nothing more a person would recognise.
MAX_USER_AGENT_LENGTH = 256
# An IPv6 address with a zone is at most 45 + a short zone name; the socket peer of an
# untrusted proxy setup can be any text the server passes on, and is cut here.
MAX_CLIENT_LENGTH = 64


def bounded(text: str | None, max_length: int) -> str | None:
    """`text` without unprintable characters and cut to `max_length`; None if nothing is left."""
    if text is None:
        return None
    kept = "".join(char for char in text if char.isprintable())[:max_length]
    return kept or None


async def user_agent(request: Request) -> str | None:
    """The request's User-Agent as a session records it (one header; several mean none)."""
    values = request.headers.getlist("user-agent")
    return bounded(values[0], MAX_USER_AGENT_LENGTH) if len(values) == 1 else None


UserAgent = Annotated[str | None, Depends(user_agent)]
