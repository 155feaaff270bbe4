"""The service-kind registry, keyed by each kind's configuration model (``LoadBalancer``, ``Failover``…).

A kind is declared once, as a :class:`ServiceKind`: its name, its model, a factory that turns the typed model into a
handler, and what the model references (child services, a servers transport). The routing layer's
``ServiceBuilder`` memoises, detects reference cycles and records errors for every kind alike, so a new kind (the
gateway's merge service) is one registration, not a branch in the builder. This module knows no configuration
model: Traefik's kinds are registered by ``hanzo_edge.routing.service_builder``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from hanzo_edge.http.messages import Handler
from hanzo_edge.http.pool import PoolRegistry, TransportOptions
from hanzo_edge.services.generation import TaskScope

__all__ = ["ServiceContext", "ServiceFactory", "ServiceKind", "register_service", "service_kind_of"]

_M = TypeVar("_M")
_M_contra = TypeVar("_M_contra", contravariant=True)


@dataclass(frozen=True, slots=True)
class ServiceContext:
    """What a service factory may use while it builds service ``name`` (qualified) of ``provider``.

    ``service(name)`` and ``transport(name)`` resolve a reference in the provider unless qualified (``""``: the
    default transport) and raise ValueError with the message the router's error shows. Background work runs under
    ``scope``; ``on_activate(start)`` defers starting it until the generation serves, so ``ingress check`` builds
    without an event loop. ``on_server_status(service, url, up)`` hears health-check results.
    """

    name: str
    provider: str
    scope: TaskScope
    pools: PoolRegistry
    service: Callable[[str], Handler]
    transport: Callable[[str], TransportOptions]
    on_activate: Callable[[Callable[[], None]], None]
    on_server_status: Callable[[str, str, bool], None] | None = None


class ServiceFactory(Protocol[_M_contra]):
    """Builds a service handler from its typed configuration. Raises ValueError for an invalid one."""

    def __call__(self, config: _M_contra, ctx: ServiceContext, /) -> Handler: ...


def _no_children(config: object) -> Sequence[str]:
    return ()


def _no_transport(config: object) -> str | None:
    return None


@dataclass(frozen=True, slots=True)
class ServiceKind(Generic[_M]):
    """One service kind.

    ``children(config)``: the services it references, as written (they are built first and are part of its
    identity, so a changed child rebuilds it). ``servers_transport(config)``: the servers transport it dials through
    (``""`` the default, None for none), also part of its identity.
    """

    name: str
    model: type[_M]
    build: ServiceFactory[_M]
    children: Callable[[_M], Sequence[str]] = _no_children
    servers_transport: Callable[[_M], str | None] = _no_transport


_REGISTRY: dict[type[object], ServiceKind[Any]] = {}


def register_service(kind: ServiceKind[_M]) -> ServiceKind[_M]:
    """Register ``kind``. Raises ValueError when another kind already has its model or name."""
    for taken in _REGISTRY.values():
        if taken != kind and (taken.model is kind.model or taken.name == kind.name):
            raise ValueError(f'service kind "{kind.name}" ({kind.model.__name__}) is already registered')
    _REGISTRY[kind.model] = kind
    return kind


def service_kind_of(config: object) -> ServiceKind[Any] | None:
    """Return the kind whose model ``config`` is (None when none is registered for it)."""
    return _REGISTRY.get(type(config))
