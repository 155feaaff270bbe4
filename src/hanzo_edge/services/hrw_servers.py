"""The ``hrw`` strategy of a ``loadBalancer``: rendezvous hashing of the client IP over its servers (Traefik v3.6).

Traefik's ``loadbalancer/hrw`` balancer is the one behind the ``highestRandomWeight`` service, given the servers as
children, each named by its URL exactly as configured (``lb.AddServer(server.URL, ...)``). So this is
:class:`~hanzo_edge.services.hrw.HighestRandomWeight` itself, scoring ``fnv1a64(clientIP + serverURL)`` with the
server's weight, picks remembered per client IP until a status changes, and only what servers add:

* health comes from the service's own checks (active and passive) through :meth:`set_status` by server URL, not
  from child services;
* a fenced server (a terminating Kubernetes endpoint) is never picked: Traefik's hrw has no sticky cookie, so
  nothing reaches it. ``sticky`` on an ``hrw`` load balancer is ignored, as in Traefik (the builder warns). Its
  health is still kept (the checks set it, the API shows it) and, as in Traefik, whose status map holds fenced
  servers like the others, an up fenced server keeps the service up for its parents.
"""

from __future__ import annotations

from hanzo_edge.http.messages import Handler
from hanzo_edge.services.hrw import HighestRandomWeight

__all__ = ["ServerRendezvous"]


class ServerRendezvous(HighestRandomWeight):
    """Rendezvous hashing of the client IP over a load balancer's servers; see the module docstring.

    Calling raises :class:`~hanzo_edge.http.errors.NoAvailableServer` (503 ``no available server``) when no server
    can be picked (none up, or every one fenced or of weight ≤ 0).
    """

    __slots__ = ("_fenced", "_reported")

    def __init__(self, name: str = "", *, health_check_enabled: bool = False) -> None:
        # No children at construction: servers come through add(), so nothing subscribes to a child's status.
        super().__init__([], name, health_check_enabled=health_check_enabled)
        self._fenced: dict[str, bool] = {}
        """Fenced server URL → up: never picked, but their health counts (Traefik's status map keeps them)."""
        self._reported = False
        """The aggregate status parents last heard of (or would have): flips are reported against it."""

    def add(self, name: str, weight: float, handler: Handler, fenced: bool = False) -> None:
        """Add server ``name`` (its URL); it starts up. Weight ≤ 0 ignores it; a ``fenced`` one is never picked."""
        if weight <= 0:
            return
        if fenced:
            self._fenced[name] = True
        else:
            super().add(name, weight, handler)
        self._reported = self.any_up  # adding reports nothing, as in Traefik: later flips count from here

    def set_status(self, name: str, up: bool) -> None:
        """Mark server ``name`` up or down, fenced or not; parents hear when the service's status flips.

        A report that changes nothing keeps the remembered picks: the active checker reports every probe's result, so
        forgetting them each time would hash every client again about once per probe.
        """
        if name in self._fenced:
            self._fenced[name] = up
        if super().status(name) not in (None, up):
            super().set_status(name, up)  # a flip of the unfenced servers alone comes through _propagate
        self._report()

    def _propagate(self, up: bool) -> None:
        # The unfenced servers' own flip: what parents hear also depends on the fenced servers.
        self._report()

    def _report(self) -> None:
        now = self.any_up
        if now != self._reported:
            self._reported = now
            super()._propagate(now)

    def status(self, name: str) -> bool | None:
        """Return whether server ``name`` is up (fenced ones too), or None when there is no such server."""
        found = super().status(name)
        return self._fenced.get(name) if found is None else found

    @property
    def any_up(self) -> bool:
        """True when some server is up, a fenced one included (as in Traefik), though only unfenced ones serve."""
        return super().any_up or any(self._fenced.values())
