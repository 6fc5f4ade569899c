"""The verified-access-token cache behind `TokenService.verify_access`, bounded by memory.

A token seen before costs a dict lookup instead of a signature check (tens of microseconds
for HS256, more for the asymmetric algorithms). The price is memory: each entry keeps the
token string and its claims, about 1 KB (HS256) to 1.5 KB (RS256). The cache is sized in bytes
(`VERIFIED_TOKEN_CACHE_MB`), not entries, because RS256 tokens are twice as long as HS256
ones. When more distinct tokens are in use than fit, the least recently used go first: a
client that keeps calling keeps its entry, one that went away makes room.

Only what the token's signature proves is cached. Expiry and revocation are checked on every
use, hits included, so a cached entry never outlives its token's validity.
"""

from collections import OrderedDict
from typing import Generic, TypeVar

V = TypeVar("V")

# A str's own size beyond its characters, rounded up.
_STR_OVERHEAD_BYTES = 64


def entry_bytes(token: str) -> int:
    """What caching `token` is counted as costing, a slight overestimate of its real memory:
    the token string, plus twice its payload segment for the claims decoded from it (objects,
    strings and the OrderedDict's slot). Measured with tracemalloc on this project's tokens
    (2 KB counted per 1.4 KB real for RS256, 1.05 per 0.92 KB for HS256); extra claims
    grow the payload, and so the count, with them."""
    payload = token.rindex(".") - token.index(".") - 1
    return len(token) + 2 * payload + _STR_OVERHEAD_BYTES


class VerifiedTokens(Generic[V]):
    """Values by token, least recently used evicted first once `max_bytes` is exceeded;
    `max_bytes=0` keeps nothing."""

    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        self._bytes = 0
        # OrderedDict, not dict: evicting its oldest entry is O(1), where a plain dict's
        # `next(iter(d))` walks over every slot deleted before it.
        self._entries: OrderedDict[str, V] = OrderedDict()

    def get(self, token: str) -> V | None:
        value = self._entries.get(token)
        if value is not None:
            self._entries.move_to_end(token)
        return value

    def put(self, token: str, value: V) -> None:
        cost = entry_bytes(token)
        if cost > self._max_bytes or token in self._entries:
            return
        self._entries[token] = value
        self._bytes += cost
        while self._bytes > self._max_bytes:
            oldest, _ = self._entries.popitem(last=False)
            self._bytes -= entry_bytes(oldest)

    def discard(self, token: str) -> None:
        if self._entries.pop(token, None) is not None:
            self._bytes -= entry_bytes(token)

    def clear(self) -> None:
        """Forget every entry: after a key change, nothing is accepted from memory that the
        new key set would not verify again."""
        self._entries.clear()
        self._bytes = 0

    @property
    def bytes(self) -> int:
        """The entries' counted cost (`entry_bytes`), at most `max_bytes`."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)
