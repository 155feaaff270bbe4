"""Health status propagation between services (Traefik's ``StatusUpdater`` / ``SetStatus`` pair).

Status flows **down** when something that watches a server (an active or passive health checker) calls the owning
balancer's ``set_status(child, up)``, and **up** through callbacks: a service registers ``cb(up)`` on a child with
``register_status_updater`` and the child calls it whenever its aggregate status flips (some child up ⇄ none up).

As in Traefik, a service accepts updaters only when its configuration asks for health checking
(``loadBalancer.healthCheck``, or ``healthCheck: {}`` on weighted/mirroring/failover); otherwise registering raises
``ValueError``, which the builder reports as a broken service.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

__all__ = ["StatusPropagator", "StatusReporter", "StatusSetter", "StatusUpdater", "subscribe"]

StatusUpdater = Callable[[bool], None]
"""A parent's callback: called with the child's new aggregate status (True = at least one server up)."""

StatusSetter = Callable[[str, bool], None]
"""``set_status(child_name, up)``: how a health checker tells a balancer about one of its children."""


@runtime_checkable
class StatusReporter(Protocol):
    """A service that can tell its parents when its aggregate health flips."""

    @property
    def any_up(self) -> bool:
        """True when the service can currently serve (some child is up)."""
        ...

    def register_status_updater(self, updater: StatusUpdater) -> None:
        """Call ``updater(up)`` on every flip. Raises ValueError when health checking is not enabled."""
        ...


class StatusPropagator:
    """Base of services that report their status upwards: keeps the updaters and calls them on flips."""

    __slots__ = ("_updaters", "health_check_enabled", "name")

    def __init__(self, name: str, health_check_enabled: bool) -> None:
        self.name = name
        self.health_check_enabled = health_check_enabled
        self._updaters: list[StatusUpdater] = []

    def register_status_updater(self, updater: StatusUpdater) -> None:
        """Add a parent's callback, run with the new status whenever this service's aggregate status flips.

        Raises ValueError when this service was not configured with a health check (Traefik refuses the same).
        """
        if not self.health_check_enabled:
            raise ValueError(f"healthCheck not enabled in config for the service {self.name!r}")
        self._updaters.append(updater)

    def _propagate(self, up: bool) -> None:
        for updater in self._updaters:
            updater(up)


def subscribe(child: object, updater: StatusUpdater, child_name: str, parent_name: str) -> None:
    """Register ``updater`` on ``child`` (a parent service following a child's health).

    Raises ValueError when the child cannot report status or refuses because its health check is not enabled; the
    messages follow Traefik's.
    """
    if not isinstance(child, StatusReporter):
        raise ValueError(f"child service {child_name!r} of {parent_name!r} does not report its health status")
    try:
        child.register_status_updater(updater)
    except ValueError as exc:
        raise ValueError(f"cannot register {child_name!r} as updater for {parent_name!r}: {exc}") from None
