"""The caller's network address, as far as it can be believed.

X-Forwarded-For is written by whoever sends the request, so it is only read when the socket
peer is one of TRUSTED_PROXIES, and then from the right: each proxy appends the address it
saw, so the right-most entry that is not one of our proxies is the first one no proxy of ours
vouches for, and anything left of it may be forged (OWASP, MDN X-Forwarded-For "security").

A peer without an address is a Unix socket: only local processes can connect to it, which in
production means your own reverse proxy, so it is trusted like one and its X-Forwarded-For
names the client. When that gives no address either, the request's address is unknown (None):
throttling then counts it per account only (security/throttle.py), never in one bucket shared
by every such client, where a hundred failures by anyone would lock everybody out.
"""

from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from typing import Annotated

from fastapi import Depends, Request

from .dependencies import SettingsDep

Network = IPv4Network | IPv6Network


def _parse(entry: str) -> IPv4Address | IPv6Address | None:
    """An address from one X-Forwarded-For entry (`1.2.3.4`, `1.2.3.4:80`, `[::1]:80`)."""
    entry = entry.strip()
    if entry.startswith("["):
        entry = entry[1:].partition("]")[0]
    elif entry.count(":") == 1:
        entry = entry.partition(":")[0]
    try:
        return ip_address(entry)
    except ValueError:
        return None


def _trusted(address: IPv4Address | IPv6Address | None, proxies: Iterable[Network]) -> bool:
    return address is not None and any(address in network for network in proxies)


def resolve_client_address(
    peer: str | None, forwarded_for: Iterable[str], proxies: tuple[Network, ...]
) -> str | None:
    """The client address for a request from `peer` carrying these X-Forwarded-For values,
    or None when there is none to be had."""
    current = None if peer is None else _parse(peer)
    if peer is not None and not _trusted(current, proxies):
        return peer
    entries = [entry for value in forwarded_for for entry in value.split(",")]
    for entry in reversed(entries):
        hop = _parse(entry)
        if hop is None:
            # Garbage where a proxy's entry should be: stop at the last hop we trust rather
            # than believe anything further left.
            break
        current = hop
        if not _trusted(hop, proxies):
            break
    return None if current is None else str(current)


async def client_address(request: Request, settings: SettingsDep) -> str | None:
    """The address login throttling and audit events use for this request."""
    peer = request.client.host if request.client else None
    forwarded_for = request.headers.getlist("x-forwarded-for")
    return resolve_client_address(peer, forwarded_for, settings.trusted_proxies)


ClientAddress = Annotated[str | None, Depends(client_address)]
