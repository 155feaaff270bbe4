"""Reuse the built routers of the previous generation whose inputs did not change (incremental rebuilds).

A reload that changes one router among 10,000 used to rebuild all of them on the event loop: parse and compile
every rule, resolve every chain, copy every route, ~0.6-0.9 s during which no request was served. Services and
middleware layers were already reused by identity (``service_builder.py``, ``middleware_builder.py``); this module
does the same for routers. A router that built *cleanly* (no error, no warning) is remembered with everything its
routes were built from, and the next build replays it (the same :class:`Route` objects, the same middleware layers)
when all of these are equal:

* its merged record: model (rule, syntax, TLS, observability, middleware names...), provider, priority, qualified
  service and entrypoints;
* the service handler the new generation resolves for it, by identity: the service builder hands back the previous
  instance exactly when the service's identity (configuration, servers transport, children) is unchanged;
* each middleware its chain resolves to: the same names in the same order, each with an equal ``(owner, model)``;
* the build's environment (:class:`Environment`): entrypoints, their ``http.middlewares`` and ``http.tls``, the
  TLS option names that can serve and why the others cannot, and the tracing wrapper.

Anything else, or any doubt (a router with errors, a middleware missing), and the router is built afresh, so the
result is the one a full build gives; ``tests/unit/routing/test_reload_reuse*.py`` compare both on random configs.
Replaying costs one record comparison and a few dictionary probes per router.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hanzo_edge.config.dynamic import Router, RouterTLS
from hanzo_edge.config.middlewares import Chain, Middleware
from hanzo_edge.config.runtime import RouterInfo, qualify
from hanzo_edge.http.messages import Handler
from hanzo_edge.routing.table import Route

__all__ = ["BuiltRouter", "Environment", "RouterMemory", "ServedRoute", "referenced_middlewares", "remember"]

LayerKey = tuple[str, str, Middleware, Handler]


@dataclass(frozen=True, slots=True)
class Environment:
    """What every router's build depends on beyond its own record; a change invalidates every remembered router."""

    entry_points: tuple[str, ...]
    entry_point_middlewares: tuple[tuple[str, tuple[str, ...]], ...]
    tls_entry_points: tuple[tuple[str, RouterTLS], ...]
    tls_options: frozenset[str] | None
    """Option names that can serve a router (None: built without TLS, every name serves)."""
    tls_broken: tuple[tuple[str, str], ...]
    wrap_service: Callable[[str, Handler], Handler] | None

    @classmethod
    def of(
        cls,
        entry_points: Sequence[str],
        entry_point_middlewares: Mapping[str, Sequence[str]],
        tls_entry_points: Mapping[str, RouterTLS],
        tls_options: Mapping[str, Any] | None,
        tls_broken: Mapping[str, str],
        wrap_service: Callable[[str, Handler], Handler] | None,
    ) -> Environment:
        return cls(
            tuple(entry_points),
            tuple(sorted((ep, tuple(names)) for ep, names in entry_point_middlewares.items())),
            tuple(sorted(tls_entry_points.items(), key=lambda item: item[0])),
            None if tls_options is None else frozenset(tls_options),
            tuple(sorted(tls_broken.items())),
            wrap_service,
        )


@dataclass(frozen=True, slots=True)
class ServedRoute:
    """One route a router serves: on ``ep``, in its TLS table when ``secure``; ``layers``: its middleware layers."""

    ep: str
    secure: bool
    route: Route
    layers: tuple[LayerKey, ...]


@dataclass(slots=True)
class BuiltRouter:
    """A router that built cleanly, with the inputs it was built from and what it produced."""

    model: Router
    """The model as merged (before the entrypoint's ``http.tls`` is shown in it)."""
    shown: Router
    """The model the record showed after the build."""
    provider: str
    priority: int
    service: str
    entry_points: tuple[str, ...]
    service_handler: Handler
    middlewares: tuple[tuple[str, tuple[str, Middleware]], ...]
    """Every middleware its routes use (entrypoint's and its own, chains expanded) with ``(owner, model)``."""
    served: list[ServedRoute] = field(default_factory=list)


@dataclass(slots=True)
class RouterMemory:
    """The routers of one generation that can be replayed by the next one (see the module docstring)."""

    environment: Environment | None = None
    routers: dict[str, BuiltRouter] = field(default_factory=dict)
    replayed: int = 0
    """How many routers this generation took from the previous one."""

    def candidate(
        self,
        info: RouterInfo[Router],
        environment: Environment,
        service_handler: Callable[[str], Handler | None],
        middleware: Callable[[str], tuple[str, Middleware] | None],
    ) -> BuiltRouter | None:
        """The remembered build of ``info`` if every input is unchanged (see the module docstring), else None.

        ``service_handler(name)`` resolves the service in the new generation (building or reusing it, so it is kept
        either way); ``middleware(qname)`` gives the new ``(owner, model)``. The router's middleware names (in its
        model) qualify in its provider and expand through the chain models compared here, so equal inputs resolve
        to the same names."""
        if environment != self.environment or info.errors:
            return None
        built = self.routers.get(info.name)
        if built is None:
            return None
        if (
            built.model != info.model
            or built.provider != info.provider
            or built.priority != info.priority
            or built.service != info.service
            or built.entry_points != info.entry_points
        ):
            return None
        if service_handler(info.service) is not built.service_handler:
            return None
        for qname, definition in built.middlewares:
            if middleware(qname) != definition:
                return None
        return built


def referenced_middlewares(
    names: Sequence[tuple[Sequence[str], str]], definitions: Mapping[str, tuple[str, Middleware]]
) -> list[tuple[str, tuple[str, Middleware]]]:
    """Every middleware ``names`` (``(names, provider)`` pairs) reach, ``chain`` ones included, with its definition.

    The chains themselves are listed: a chain whose member list changes resolves differently even when each member
    is unchanged."""
    seen: dict[str, tuple[str, Middleware]] = {}
    pending = [(name, provider) for group, provider in names for name in group]
    while pending:
        name, provider = pending.pop()
        qname = qualify(name, provider)
        if qname in seen:
            continue
        definition = definitions[qname]  # the router built cleanly, so every name it uses exists
        seen[qname] = definition
        config = definition[1].config
        if isinstance(config, Chain):
            pending.extend((member, definition[0]) for member in config.middlewares)
    return list(seen.items())


def remember(
    memory: RouterMemory,
    info: RouterInfo[Router],
    model: Router,
    service_handler: Handler,
    middlewares: Sequence[tuple[str, tuple[str, Middleware]]],
    served: Sequence[ServedRoute],
) -> None:
    """Remember a router that built cleanly (``model``: its record's model before the build touched it)."""
    memory.routers[info.name] = BuiltRouter(
        model=model,
        shown=info.model,
        provider=info.provider,
        priority=info.priority,
        service=info.service,
        entry_points=info.entry_points,
        service_handler=service_handler,
        middlewares=tuple(middlewares),
        served=list(served),
    )
