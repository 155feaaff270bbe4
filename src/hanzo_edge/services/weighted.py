"""The ``weighted`` service: weighted round robin over other services (Traefik ``wrr`` used at service level).

Children are whole services (load balancers, other weighted services, mirroring, failover), scheduled with the same
EDF algorithm as a load balancer's servers; children with weight ≤ 0 are ignored. Sticky sessions use the child
service *name* for the cookie value (one cookie per level when load balancers below are sticky too).

With ``health_check_enabled`` (``healthCheck: {}`` in the configuration) the service follows its children's health:
it registers a status updater on every child — each child must then report status itself, or construction raises
ValueError, as Traefik refuses to build such a service — and reports its own flips to its parents.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from hanzo_edge.http.messages import Handler
from hanzo_edge.services.status import subscribe
from hanzo_edge.services.sticky import StickyCookie
from hanzo_edge.services.wrr import WeightedRoundRobin

__all__ = ["Weighted"]


class Weighted(WeightedRoundRobin):
    """A weighted service over named child services: ``children`` are ``(name, weight, handler)``.

    Behaves as :class:`~hanzo_edge.services.wrr.WeightedRoundRobin` (raises NoAvailableServer when no child is up).
    Raises ValueError when ``health_check_enabled`` and a child cannot report its health.
    """

    __slots__ = ()

    def __init__(
        self,
        children: Sequence[tuple[str, float, Handler]],
        name: str = "",
        *,
        sticky: StickyCookie | None = None,
        health_check_enabled: bool = False,
    ) -> None:
        super().__init__(children, name, sticky=sticky, health_check_enabled=health_check_enabled)
        if health_check_enabled:
            for child_name, _weight, handler in children:
                subscribe(handler, partial(self.set_status, child_name), child_name, name)
                if not getattr(handler, "any_up", True):
                    self.set_status(child_name, False)
