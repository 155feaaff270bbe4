"""The ``hrw`` strategy of a ``loadBalancer``: rendezvous hashing of the client IP over its servers (Traefik v3.6).

Traefik's ``loadbalancer/hrw`` balancer is the one behind the ``highestRandomWeight`` service, given the servers as
children, each named by its URL exactly as configured (``lb.AddServer(server.URL, ...)``). So this is
:class:`~hanzo_edge.services.hrw.HighestRandomWeight` itself, scoring ``fnv1a64(clientIP + serverURL)`` with the
server's weight, picks remembered per client IP until a status changes, and only what servers add:

* health comes from the service's own checks (active and passive) through :meth:`set_status` by server URL, not
  from child services;
* a fenced server (a terminating Kubernetes endpoint) is never picked: Traefik's hrw has no sticky cookie, so
  nothing reaches it. ``sticky`` on an ``hrw`` load balancer is ignored, as in Traefik (the builder warns).
"""

from __future__ import annotations

from hanzo_edge.http.messages import Handler
from hanzo_edge.services.hrw import HighestRandomWeight

__all__ = ["ServerRendezvous"]


class ServerRendezvous(HighestRandomWeight):
    """Rendezvous hashing of the client IP over a load balancer's servers; see the module docstring.

    Calling raises :class:`~hanzo_edge.http.errors.NoAvailableServer` (503 ``no available server``) when no server
    is up (or every one is fenced or of weight ≤ 0).
    """

    __slots__ = ()

    def __init__(self, name: str = "", *, health_check_enabled: bool = False) -> None:
        # No children at construction: servers come through add(), so nothing subscribes to a child's status.
        super().__init__([], name, health_check_enabled=health_check_enabled)

    def add(self, name: str, weight: float, handler: Handler, fenced: bool = False) -> None:
        """Add server ``name`` (its URL); it starts up. Weight ≤ 0 ignores it; a ``fenced`` one is never picked."""
        if not fenced:
            super().add(name, weight, handler)
