"""TCP middlewares (Traefik ``pkg/middlewares/tcp``): they decide, once per connection, whether it may proceed.

``ipAllowList`` (and the deprecated ``ipWhiteList``) closes a connection whose client address (after a PROXY header)
is outside ``sourceRange``; ``inFlightConn`` closes one that would exceed ``amount`` open connections from the same
client IP. A router's middlewares form a tuple of :class:`Admission`; :func:`admit` runs them in order and returns
the releases to call when the connection ends (an ``inFlightConn`` slot), or None when the connection is refused.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Protocol

from hanzo_edge.config.tcp import TCPMiddleware
from hanzo_edge.rules.ipcheck import parse_ip_ranges

__all__ = ["Admission", "IPAllowList", "InFlightConn", "admit", "build_admission"]

log = logging.getLogger("hanzo_edge.tcp")

Release = Callable[[], None]


class Admission(Protocol):
    """One TCP middleware."""

    def enter(self, client_ip: str) -> Release | bool:
        """True to let the connection through, False to close it, or a release to call when it ends."""


class IPAllowList:
    """Only clients in ``sourceRange`` get through."""

    __slots__ = ("contains", "name")

    def __init__(self, name: str, source_range: Sequence[str]) -> None:
        self.name = name
        self.contains = parse_ip_ranges(tuple(source_range)).contains

    def enter(self, client_ip: str) -> bool:
        if self.contains(client_ip):
            return True
        log.debug("%s: connection from %s refused (not in the allow list)", self.name, client_ip)
        return False


class InFlightConn:
    """At most ``amount`` simultaneous connections per client IP (the counter outlives no connection)."""

    __slots__ = ("amount", "counts", "name")

    def __init__(self, name: str, amount: int) -> None:
        self.name = name
        self.amount = amount
        self.counts: dict[str, int] = {}

    def enter(self, client_ip: str) -> Release | bool:
        counts = self.counts
        current = counts.get(client_ip, 0)
        if current >= self.amount:
            log.debug("%s: connection from %s refused (%d in flight)", self.name, client_ip, current)
            return False
        counts[client_ip] = current + 1
        released = False

        def release() -> None:
            nonlocal released
            if released:
                return
            released = True
            left = counts.get(client_ip, 1) - 1
            if left > 0:
                counts[client_ip] = left
            else:
                counts.pop(client_ip, None)

        return release


def build_admission(name: str, model: TCPMiddleware) -> Admission:
    """Make the middleware of ``model``. Raises ValueError (with Traefik's wording) for a bad configuration."""
    if model.in_flight_conn is not None:
        # Any amount, as Traefik: 0 (or less) closes every connection rather than disabling the router, whose
        # connections would then reach another router.
        return InFlightConn(name, model.in_flight_conn.amount)
    allow = model.ip_allow_list or model.ip_white_list
    if allow is not None:
        # Traefik's words (pkg/middlewares/tcp/ipallowlist), as the HTTP middleware's; Go prints a []string as [a b].
        if not allow.source_range:
            raise ValueError("sourceRange is empty, IPAllowLister not created")
        try:
            return IPAllowList(name, allow.source_range)
        except ValueError as exc:
            raise ValueError(f"cannot parse CIDRs [{' '.join(allow.source_range)}]: {exc}") from None
    raise ValueError("the middleware has no type")


def admit(chain: Sequence[Admission], client_ip: str) -> list[Release] | None:
    """Run ``chain`` for a new connection: the releases to call when it ends, or None (every slot given back)."""
    releases: list[Release] = []
    for middleware in chain:
        verdict = middleware.enter(client_ip)
        if verdict is False:
            for release in releases:
                release()
            return None
        if verdict is not True:
            releases.append(verdict)
    return releases
