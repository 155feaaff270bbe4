"""The registry of ``extra_config`` namespace handlers: KrakenD namespace → middlewares of our runtime.

A handler is registered once per namespace with the scopes it accepts::

    @namespace("auth/validator", scopes={"endpoint"})
    def jwt_validator(config: Mapping[str, Any], where: JsonPath) -> NamespaceResult:
        ...
        return NamespaceResult(middlewares=(NamespaceMiddleware("jwt", "gatewayJwt", JwtOptions(...)),))

``config`` is the namespace's JSON value (the block under its key), ``where`` the JSON path of that block (for
:class:`~hanzo_edge.gateway.errors.GatewayConfigError` and warnings). A handler validates eagerly: a bad value raises
``GatewayConfigError(path, message)``; something accepted but not honoured is a warning in the result.

Each :class:`NamespaceMiddleware` names a kind of the typed middleware registry
(:func:`hanzo_edge.middlewares.base.register`) and carries that kind's typed options (its registered model), so the
translation puts it in the endpoint's chain through :func:`~hanzo_edge.middlewares.base.middleware_of` and the one
builder builds it. Service-scope results are applied to every endpoint, before the endpoint's own, unless the
result's ``settings`` has ``{"before_routing": True}``: then its middlewares wrap the whole router (404s, 405s,
redirects and ``/__health`` included), which is where ``security/cors`` answers preflights for any path.

Namespaces without a handler (or used in a scope the handler does not accept) become ``gateway check`` warnings
naming them with their JSON path: never silence. Handlers live in :mod:`hanzo_edge.gateway.namespaces` (one module
per namespace) and in this package's own modules; :func:`load_handlers` imports them once.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from hanzo_edge.gateway.errors import GatewayWarning, JsonPath

__all__ = [
    "HANDLERS",
    "NamespaceHandler",
    "NamespaceMiddleware",
    "NamespaceResult",
    "RegisteredNamespace",
    "Scope",
    "handler_for",
    "load_handlers",
    "namespace",
]

Scope = Literal["service", "endpoint", "backend"]
_SCOPES: frozenset[str] = frozenset({"service", "endpoint", "backend"})


@dataclass(frozen=True, slots=True)
class NamespaceMiddleware:
    """One middleware for the endpoint's chain.

    ``name`` is a short name unique within the endpoint (the router's middleware is named
    ``<endpoint id>-<name>``); ``kind`` the registered middleware kind (``middlewares/base.py`` ``@register``);
    ``options`` an instance of that kind's model.
    """

    name: str
    kind: str
    options: object


@dataclass(frozen=True, slots=True)
class NamespaceResult:
    """What a handler gives the translation: middlewares (outermost first) and warnings."""

    middlewares: tuple[NamespaceMiddleware, ...] = ()
    warnings: tuple[GatewayWarning, ...] = ()
    # Options the translation itself reads (e.g. the `router` namespace's flags): free-form, per namespace.
    settings: Mapping[str, Any] = field(default_factory=dict)


NamespaceHandler = Callable[[Mapping[str, Any], JsonPath], NamespaceResult]


@dataclass(frozen=True, slots=True)
class RegisteredNamespace:
    """A handler and the scopes (service, endpoint, backend) where its namespace is accepted."""

    name: str
    scopes: frozenset[str]
    handler: NamespaceHandler


HANDLERS: dict[str, RegisteredNamespace] = {}


def namespace(name: str, *, scopes: Iterable[Scope]) -> Callable[[NamespaceHandler], NamespaceHandler]:
    """Decorator: register ``handler`` for the namespace ``name`` in ``scopes``.

    Raises ValueError for an unknown scope or a namespace already registered by another handler.
    """
    wanted = frozenset(scopes)
    unknown = wanted - _SCOPES
    if unknown or not wanted:
        raise ValueError(f"namespace {name!r}: scopes must be some of {sorted(_SCOPES)}, got {sorted(wanted)}")

    def decorate(handler: NamespaceHandler) -> NamespaceHandler:
        existing = HANDLERS.get(name)
        if existing is not None and existing.handler is not handler:
            raise ValueError(f"namespace {name!r} already has a handler")
        HANDLERS[name] = RegisteredNamespace(name, wanted, handler)
        return handler

    return decorate


def handler_for(name: str, scope: Scope) -> RegisteredNamespace | None:
    """Return the handler of ``name`` when it accepts ``scope`` (None otherwise)."""
    load_handlers()
    registered = HANDLERS.get(name)
    if registered is None or scope not in registered.scopes:
        return None
    return registered


_loaded = False


def load_handlers() -> None:
    """Import every handler module once (``gateway/namespaces/*`` and this package's ``ns_*`` modules)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    import hanzo_edge.gateway as package

    for module in pkgutil.iter_modules(package.__path__):
        if module.name.startswith("ns_"):
            importlib.import_module(f"{package.__name__}.{module.name}")
    try:
        namespaces = importlib.import_module("hanzo_edge.gateway.namespaces")
    except ModuleNotFoundError as exc:
        # Half of the namespaces may not exist yet in a checkout; anything else failing to import is a bug.
        if exc.name != "hanzo_edge.gateway.namespaces":
            raise
        return
    for module in pkgutil.iter_modules(namespaces.__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"{namespaces.__name__}.{module.name}")
