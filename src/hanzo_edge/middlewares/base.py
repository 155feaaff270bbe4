"""The middleware contract and registry, keyed by Traefik's middleware names (``stripPrefix``, ``rateLimit``…).

A middleware is built once per router and configuration generation: ``factory(next, config, name=…, ctx=…)``
validates and precomputes in its constructor (raising ValueError for a bad configuration) and returns a
:data:`~hanzo_edge.http.messages.Handler` that does only per-request work. Instances are per router, as in Traefik.
"""

from __future__ import annotations

import importlib
import pkgutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from hanzo_edge.http.messages import Handler

__all__ = ["REGISTRY", "BuildContext", "MiddlewareFactory", "factory_for", "register"]


def _no_service(name: str) -> Handler | None:
    return None


def _monotonic() -> float:
    return time.monotonic()


@dataclass(frozen=True, slots=True)
class BuildContext:
    """What a middleware may know about where it is built.

    ``router`` and ``provider`` name its place; ``service(name)`` returns the handler of a service (resolved in the
    provider unless qualified; None when missing), for ``errors`` and a circuit breaker's fallback; ``clock`` is the
    monotonic time source time-based middlewares must use (tests inject a fake one).
    """

    router: str = ""
    provider: str = ""
    service: Callable[[str], Handler | None] = _no_service
    clock: Callable[[], float] = _monotonic


class MiddlewareFactory(Protocol):
    """Builds one middleware instance around ``next``. Raises ValueError for an invalid configuration."""

    def __call__(self, next: Handler, config: Any, *, name: str, ctx: BuildContext) -> Handler: ...


REGISTRY: dict[str, MiddlewareFactory] = {}
"""Traefik middleware name → factory. Kinds missing here are parsed but not served yet."""

_F = TypeVar("_F", bound=Callable[..., Handler])


def register(kind: str) -> Callable[[_F], _F]:
    """Class or function decorator: register a factory under the Traefik name ``kind``."""

    def decorate(factory: _F) -> _F:
        REGISTRY[kind] = factory
        return factory

    return decorate


def factory_for(kind: str) -> MiddlewareFactory | None:
    """Return the factory registered for ``kind`` (None when that kind is not implemented yet)."""
    _load_builtin()
    return REGISTRY.get(kind)


_loaded = False


def _load_builtin() -> None:
    # Import every module of this package once so their @register decorators run (one module per middleware).
    global _loaded
    if _loaded:
        return
    _loaded = True
    import hanzo_edge.middlewares as package

    for module in pkgutil.iter_modules(package.__path__):
        if module.name != "base" and not module.name.startswith("_"):
            importlib.import_module(f"{package.__name__}.{module.name}")
