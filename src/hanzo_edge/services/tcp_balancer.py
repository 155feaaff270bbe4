"""Layer-4 load balancing: TCP and UDP servers, and Traefik's weighted round robin over them.

Traefik's TCP and UDP ``loadBalancer`` and ``weighted`` services both balance with the same earliest-deadline-first
weighted round robin as its HTTP ``wrr`` (each pick advances the child's deadline by ``1/weight``; weight ≤ 0 never
picked). :class:`Balancer` is that schedule over any children: a server target, or another balancer (a ``weighted``
service's children are services). ``pick()`` descends until it reaches a server.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Balancer", "TCPServerTarget", "UDPServerTarget", "split_address"]


def split_address(address: str) -> tuple[str, int]:
    """Split ``host:port`` (IPv6 in brackets). Raises ValueError with the address for anything else."""
    host, sep, port_text = address.rpartition(":")
    if not sep or not host or not port_text.isdigit() or int(port_text) > 65535:
        raise ValueError(f"invalid server address {address!r} (expected host:port)")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port_text)


@dataclass(frozen=True, slots=True)
class TCPServerTarget:
    """One TCP server with the transport settings of its service (what a connection to it is dialled with).

    ``termination_delay``: how long the other direction may still flow after one peer half-closed (<0: forever).
    ``proxy_protocol``: 0 (none), 1 or 2. ``tls``: the client context when the server speaks TLS.
    """

    address: str
    host: str
    port: int
    dial_timeout: float
    dial_keep_alive: float
    termination_delay: float
    proxy_protocol: int = 0
    tls: ssl.SSLContext | None = None
    server_name: str = ""
    peer_cert_uri: str = ""


@dataclass(frozen=True, slots=True)
class UDPServerTarget:
    """One UDP server."""

    address: str
    host: str
    port: int


class _Entry:
    __slots__ = ("child", "deadline", "up", "weight")

    def __init__(self, child: object, weight: float, deadline: float) -> None:
        self.child = child
        self.weight = weight
        self.deadline = deadline
        self.up = True


class Balancer:
    """Weighted round robin (earliest deadline first) over server targets and nested balancers.

    A server marked down (:meth:`set_status`, by a TCP health check) is skipped; a nested balancer with nothing up
    gives nothing, and the next child is tried.
    """

    __slots__ = ("_current", "_entries", "name")

    def __init__(self, name: str, children: Sequence[tuple[object, float]]) -> None:
        self.name = name
        self._current = 0.0
        self._entries = [_Entry(child, weight, 1.0 / weight) for child, weight in children if weight > 0]

    def __len__(self) -> int:
        return len(self._entries)

    def set_status(self, address: str, up: bool) -> None:
        """Mark the server at ``address`` up or down."""
        for entry in self._entries:
            if getattr(entry.child, "address", None) == address:
                entry.up = up

    def status(self, address: str) -> bool | None:
        """Whether the server at ``address`` is up (None: no such server here)."""
        for entry in self._entries:
            if getattr(entry.child, "address", None) == address:
                return entry.up
        return None

    def pick(self) -> object | None:
        """The next server target (a :class:`TCPServerTarget` or :class:`UDPServerTarget`), or None if none is up."""
        skipped: list[_Entry] | None = None  # child services that had nothing up (rare: no list otherwise)
        while True:
            best: _Entry | None = None
            for entry in self._entries:
                better = best is None or entry.deadline < best.deadline
                if better and entry.up and (skipped is None or entry not in skipped):
                    best = entry
            if best is None:
                return None
            self._current = best.deadline
            best.deadline += 1.0 / best.weight
            child = best.child
            if not isinstance(child, Balancer):
                return child
            found = child.pick()
            if found is not None:
                return found
            if skipped is None:
                skipped = []
            skipped.append(best)
