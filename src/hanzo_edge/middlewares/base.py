"""The middleware contract and registry, keyed by Traefik's middleware names (``stripPrefix``, ``rateLimit``…).

A middleware is built once per router and configuration generation: ``factory(next, config, name=…, ctx=…)``
validates and precomputes in its constructor (raising ValueError for a bad configuration) and returns a
:data:`~hanzo_edge.http.messages.Handler` that does only per-request work. Instances are per router, as in Traefik.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from hanzo_edge.http.messages import Handler

__all__ = ["REGISTRY", "BuildContext", "MiddlewareFactory", "factory_for", "register"]


@dataclass(frozen=True, slots=True)
class BuildContext:
    """What a middleware may know about where it is built: its router and provider."""

    router: str = ""
    provider: str = ""


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


def _load_builtin() -> None:
    # Import the implementations once so their @register decorators run.
    from hanzo_edge.middlewares import add_prefix, strip_prefix  # noqa: F401
