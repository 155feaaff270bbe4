"""The ``highestRandomWeight`` service: rendezvous hashing of the client IP over child services (Traefik v3.6 ``hrw``).

Every healthy child gets a score for the request's client IP and the highest score wins, so one client keeps landing
on the same child while the set of healthy children is unchanged, and removing (or losing) a child moves only the
clients that child had. The score follows Traefik's ``getNodeScore`` exactly, so a client lands on the child Traefik
would pick: ``u = fnv1a64(ip + childName) / 2**64`` and ``score = weight / -ln(u)`` (weighted rendezvous hashing:
a child's share of the clients is proportional to its weight). The key is the IP of the connection's peer without
the port (Traefik's ``RemoteAddrStrategy``; behind PROXY protocol the header's source, as Go's listener reports it,
IPv4-mapped addresses written as IPv4), never a forwarded header. Children with weight ≤ 0 are ignored.

FNV-1a is written out here (a few lines) rather than taken from a package: it must match Go's ``hash/fnv`` bit for
bit, and the IP prefix's hash state is shared by all children of one pick. Continuing that state over a child's name
takes no loop over the name: FNV-1a's xor touches only the low byte, and the low byte of a product depends only on
the factors' low bytes, so ``fnv1a64(name, state) == (state * P**len(name) + tail[state & 0xff]) mod 2**64`` with
``tail`` depending on the name and that low byte alone (see :class:`_Child`). Each child fills its 256 tails as
client states need them. The winner per client IP is also remembered until a child's status changes (bounded).

With ``health_check_enabled`` (``healthCheck: {}``) the service follows its children's health like ``weighted``
does: each child must report its status (construction raises ValueError otherwise, as Traefik refuses to build it)
and the service reports its own flips (some child up ⇄ none up) to its parents.
"""

from __future__ import annotations

import ipaddress
import math
from array import array
from collections.abc import Awaitable, Sequence
from functools import partial

from hanzo_edge.http.errors import NoAvailableServer
from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.services.status import StatusPropagator, subscribe

__all__ = ["HighestRandomWeight", "fnv1a64", "go_ip", "node_score"]

_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3
_MASK64 = 0xFFFFFFFFFFFFFFFF
_TWO_64 = float(2**64)
# Clients remembered per service between status changes; past this the memory is dropped and refilled.
_PICK_MEMORY = 4096


def fnv1a64(data: bytes, state: int = _FNV_OFFSET) -> int:
    """Return the 64-bit FNV-1a hash of ``data`` continued from ``state`` (Go's ``hash/fnv.New64a``)."""
    for byte in data:
        state = ((state ^ byte) * _FNV_PRIME) & _MASK64
    return state


def _score(hashed: int, weight: float) -> float:
    unit = float(hashed) / _TWO_64
    if unit <= 0.0:
        return 0.0  # Go: 1 / -ln(0) = 1 / +Inf = 0
    if unit >= 1.0:
        return -math.inf  # Go: 1 / -ln(1) = 1 / -0 = -Inf
    # Go's order of operations (1/-ln u, then times the weight): weight / -ln u can differ in the last bit.
    return (1.0 / -math.log(unit)) * weight


def go_ip(ip: str) -> str:
    """``ip`` as Go's ``net.IP.String`` writes it: an IPv4-mapped IPv6 address (a PROXY header's ``::ffff:a.b.c.d``)
    is the IPv4 address in Traefik's RemoteAddr, while Python writes it ``::ffff:a0b:c0d``; the hash must see Go's."""
    if not ip.startswith("::ffff:"):
        return ip
    try:
        mapped = ipaddress.IPv6Address(ip).ipv4_mapped
    except ValueError:
        return ip
    return ip if mapped is None else str(mapped)


def node_score(src: str, name: str, weight: float) -> float:
    """Return Traefik's rendezvous score of child ``name`` (of ``weight``) for client ``src``."""
    return _score(fnv1a64((src + name).encode()), weight)


class _Child:
    __slots__ = ("_has_tail", "_shift", "_tails", "handler", "name", "name_bytes", "up", "weight")

    def __init__(self, name: str, weight: float, handler: Handler) -> None:
        self.name = name
        self.name_bytes = name.encode()
        self.weight = weight
        self.handler = handler
        self.up = True
        # One step of FNV-1a maps h to (h ^ b) * P = h * P + ((l ^ b) - l) * P where l = h & 0xff, and the new low
        # byte is ((l ^ b) * P) & 0xff: both depend on l alone. After the whole name, h * P**n plus a sum fixed by
        # the first l: tail[l] = fnv1a64(name, l) - l * P**n. At most 256 tails, 2 KiB per child, filled lazily.
        self._shift = pow(_FNV_PRIME, len(self.name_bytes), 1 << 64)
        self._tails = array("Q", bytes(8 * 256))
        self._has_tail = bytearray(256)

    def hash_after(self, state: int) -> int:
        """Return ``fnv1a64(self.name_bytes, state)`` without walking the name (see ``__init__``)."""
        low = state & 0xFF
        if self._has_tail[low]:
            tail = self._tails[low]
        else:
            tail = (fnv1a64(self.name_bytes, low) - low * self._shift) & _MASK64
            self._tails[low] = tail
            self._has_tail[low] = 1
        return (state * self._shift + tail) & _MASK64


class HighestRandomWeight(StatusPropagator):
    """A handler sending each client IP to the healthy child with the highest rendezvous score.

    ``children`` are ``(name, weight, handler)``; more can be added with :meth:`add`. Calling raises
    :class:`~hanzo_edge.http.errors.NoAvailableServer` (503 ``no available server``) when no child is up.
    Raises ValueError when ``health_check_enabled`` and a child cannot report its health.
    """

    __slots__ = ("_by_name", "_children", "_picks", "_up")

    def __init__(
        self,
        children: Sequence[tuple[str, float, Handler]],
        name: str = "",
        *,
        health_check_enabled: bool = False,
    ) -> None:
        super().__init__(name, health_check_enabled)
        self._children: list[_Child] = []
        self._by_name: dict[str, _Child] = {}
        self._picks: dict[str, _Child] = {}
        self._up = 0
        for child_name, weight, handler in children:
            self.add(child_name, weight, handler)
        if health_check_enabled:
            for child_name, _weight, handler in children:
                subscribe(handler, partial(self.set_status, child_name), child_name, name)
                if not getattr(handler, "any_up", True):
                    self.set_status(child_name, False)

    def add(self, name: str, weight: float, handler: Handler) -> None:
        """Add a child that starts up (ignored when ``weight`` ≤ 0, as in Traefik)."""
        if weight <= 0:
            return
        child = _Child(name, weight, handler)
        self._children.append(child)
        self._by_name.setdefault(name, child)
        self._up += 1
        self._picks.clear()

    def pick(self, client_ip: str) -> Handler:
        """Return the handler of the child chosen for ``client_ip``. Raises NoAvailableServer when none is up."""
        return self._pick(client_ip).handler

    def _pick(self, client_ip: str) -> _Child:
        known = self._picks.get(client_ip)
        if known is not None:
            return known
        if self._up == 0:
            raise NoAvailableServer(self.name)
        prefix = fnv1a64(go_ip(client_ip).encode())
        best: _Child | None = None
        best_score = 0.0
        for child in self._children:
            if not child.up:
                continue
            score = _score(child.hash_after(prefix), child.weight)
            if score > best_score:
                best, best_score = child, score
        if best is None:
            # Every healthy child scored 0 or less (a hash of exactly 0 or 2**64-1): Go would dereference nil here;
            # the first healthy child serves instead.
            best = next(child for child in self._children if child.up)
        if len(self._picks) >= _PICK_MEMORY:
            self._picks.clear()
        self._picks[client_ip] = best
        return best

    def __call__(self, req: Request) -> Awaitable[Response]:
        # Not a coroutine: the child's awaitable is returned directly, so balancing adds no frame to the request.
        return self._pick(req.client_ip).handler(req)

    def set_status(self, name: str, up: bool) -> None:
        """Mark child ``name`` up or down; runs the status updaters when the aggregate status flips.

        Unknown names are ignored. The remembered picks are dropped, so clients of a child that went down move to
        their next-best child and come back when it recovers."""
        was_up = self._up > 0
        for child in self._children:
            if child.name == name and child.up != up:
                child.up = up
                self._up += 1 if up else -1
        self._picks.clear()
        if (self._up > 0) != was_up:
            self._propagate(not was_up)

    def status(self, name: str) -> bool | None:
        """Return whether child ``name`` is up, or None when there is no such child."""
        child = self._by_name.get(name)
        return None if child is None else child.up

    @property
    def any_up(self) -> bool:
        """True when at least one child can take traffic."""
        return self._up > 0

    def __repr__(self) -> str:
        return f"<HighestRandomWeight {self.name} {[(c.name, c.weight, c.up) for c in self._children]}>"
