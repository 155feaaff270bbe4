"""The ``failover`` service: serve ``service`` while it is up, else ``fallback`` (Traefik ``failover``).

The main service must report its health (it needs a ``healthCheck``): the failover always follows it, and
construction raises ValueError otherwise, as Traefik refuses to build the service. The fallback's health is
followed only when the failover itself has ``healthCheck: {}`` (``health_check_enabled``); otherwise the fallback
is assumed up. With both down, calling raises :class:`~hanzo_edge.http.errors.NoAvailableServer` (503).

The failover's own status (main or fallback up) is reported to its parents when ``health_check_enabled``.
"""

from __future__ import annotations

from collections.abc import Awaitable

from hanzo_edge.http.errors import NoAvailableServer
from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.services.status import StatusPropagator, subscribe

__all__ = ["Failover"]


class Failover(StatusPropagator):
    """A handler routing to ``service`` while it is up and to ``fallback`` otherwise.

    ``service_name``/``fallback_name`` only label error messages. Raises ValueError when ``service`` (or, with
    ``health_check_enabled``, ``fallback``) cannot report its health.
    """

    __slots__ = ("_fallback", "_fallback_up", "_service", "_service_up")

    def __init__(
        self,
        service: Handler,
        fallback: Handler,
        name: str = "",
        *,
        health_check_enabled: bool = False,
        service_name: str = "service",
        fallback_name: str = "fallback",
    ) -> None:
        super().__init__(name, health_check_enabled)
        self._service = service
        self._fallback = fallback
        self._service_up = True
        self._fallback_up = True
        subscribe(service, self.set_service_status, service_name, name)
        self._service_up = bool(getattr(service, "any_up", True))
        if health_check_enabled:
            subscribe(fallback, self.set_fallback_status, fallback_name, name)
            self._fallback_up = bool(getattr(fallback, "any_up", True))

    def __call__(self, req: Request) -> Awaitable[Response]:
        if self._service_up:
            return self._service(req)
        if self._fallback_up:
            return self._fallback(req)
        raise NoAvailableServer(self.name)

    def set_service_status(self, up: bool) -> None:
        """Record the main service's status (its status updater); propagates a flip of :attr:`any_up`."""
        before = self.any_up
        self._service_up = up
        if self.any_up != before:
            self._propagate(not before)

    def set_fallback_status(self, up: bool) -> None:
        """Record the fallback's status (its status updater); propagates a flip of :attr:`any_up`."""
        before = self.any_up
        self._fallback_up = up
        if self.any_up != before:
            self._propagate(not before)

    @property
    def serving_fallback(self) -> bool:
        """True while requests go to the fallback."""
        return not self._service_up and self._fallback_up

    @property
    def any_up(self) -> bool:
        """True while the main service or the fallback is up."""
        return self._service_up or self._fallback_up

    def __repr__(self) -> str:
        return f"<Failover {self.name} service_up={self._service_up} fallback_up={self._fallback_up}>"
