"""The middleware contract and registry, keyed by each kind's configuration model (``StripPrefix``, ``RateLimit``…).

A middleware is built once per router and configuration generation: ``factory(next, config, name=…, ctx=…)``
validates and precomputes in its constructor (raising ValueError for a bad configuration) and returns a
:data:`~hanzo_edge.http.messages.Handler` that does only per-request work. Instances are per router, as in Traefik.

A kind is declared once, as a :class:`MiddlewareKind` (name + model + factory). Traefik's kinds name themselves
(``@register("stripPrefix")``): their model is the member of Traefik's ``Middleware`` union with that wire name,
which stays the schema of dynamic files. Other kinds (the gateway's, a test's) pass their model
(``@register("jwt", JwtConfig)``) and reach a router through typed configuration (:func:`middleware_of`). The
builder looks a kind up by ``type(config)``, so adding one edits no union and no ``elif``.
"""

from __future__ import annotations

import importlib
import pkgutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import msgspec

from hanzo_edge.config.middlewares import ExtensionMiddleware, Middleware, traefik_kinds
from hanzo_edge.http.fused_head import FusedHead, RequestHook, ResponseHook
from hanzo_edge.http.messages import Handler, Request, Response

__all__ = [
    "REGISTRY",
    "BuildContext",
    "FusedHead",
    "HeadHooks",
    "MiddlewareFactory",
    "MiddlewareKind",
    "add_kind",
    "factory_for",
    "fuse_heads",
    "head_hooks_of",
    "kind_of",
    "middleware_of",
    "register",
]


_M = TypeVar("_M")
_M_contra = TypeVar("_M_contra", contravariant=True)


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


class MiddlewareFactory(Protocol[_M_contra]):
    """Builds one middleware instance around ``next`` from its typed ``config``. Raises ValueError when invalid."""

    def __call__(self, next: Handler, config: _M_contra, /, *, name: str, ctx: BuildContext) -> Handler: ...


@dataclass(frozen=True, slots=True)
class MiddlewareKind(Generic[_M]):
    """One middleware kind: its ``name`` in a dynamic configuration, its configuration ``model``, its ``factory``."""

    name: str
    model: type[_M]
    factory: MiddlewareFactory[_M]


REGISTRY: dict[type[object], MiddlewareKind[Any]] = {}
"""Configuration model → kind. Traefik kinds missing here are parsed but not served yet (``grpcWeb``)."""

_BY_NAME: dict[str, MiddlewareKind[Any]] = {}


def add_kind(kind: MiddlewareKind[_M]) -> MiddlewareKind[_M]:
    """Register ``kind``. Raises ValueError when its name or model is already taken by another factory.

    One model may carry two names with the same factory (Traefik's ``ipWhiteList`` is ``ipAllowList``'s old name).
    """
    named, modelled = _BY_NAME.get(kind.name), REGISTRY.get(kind.model)
    if (named is not None and (named.model, named.factory) != (kind.model, kind.factory)) or (
        modelled is not None and modelled.factory is not kind.factory
    ):
        raise ValueError(f'middleware kind "{kind.name}" ({kind.model.__name__}) is already registered')
    REGISTRY.setdefault(kind.model, kind)
    _BY_NAME[kind.name] = kind
    return kind


_F = TypeVar("_F", bound=Callable[..., Handler])


def register(name: str, model: type[object] | None = None) -> Callable[[_F], _F]:
    """Class or function decorator: register a factory as the kind ``name``.

    ``model`` defaults to Traefik's model for ``name``; a kind Traefik does not have must give its own.
    Raises ValueError for an unknown Traefik name without a model, or a name or model already taken.
    """
    if model is None:
        model = traefik_kinds().get(name)
        if model is None:
            raise ValueError(f'"{name}" is not a Traefik middleware kind: give its configuration model')
    resolved: type[object] = model

    def decorate(factory: _F) -> _F:
        add_kind(MiddlewareKind(name, resolved, factory))
        return factory

    return decorate


def kind_of(config: object) -> MiddlewareKind[Any] | None:
    """Return the kind whose model ``config`` is (None when no factory is registered for it)."""
    _load_builtin()
    return REGISTRY.get(type(config))


def factory_for(name: str) -> MiddlewareFactory[Any] | None:
    """Return the factory registered under the name ``name`` (None when that kind is not implemented yet)."""
    _load_builtin()
    kind = _BY_NAME.get(name)
    return None if kind is None else kind.factory


def middleware_of(config: object) -> Middleware:
    """Return the dynamic-configuration ``Middleware`` for a registered kind's model (what a provider stores).

    Raises ValueError when no kind is registered for ``type(config)``.
    """
    kind = kind_of(config)
    if kind is None:
        raise ValueError(f"no middleware kind is registered for {type(config).__name__}")
    name = next((wire for wire, model in traefik_kinds().items() if model is kind.model), None)
    if name is not None:
        member: dict[str, Any] = {_attr(name): config}
        return Middleware(**member)
    return ExtensionMiddleware(extension_kind=kind.name, extension=config)


def _attr(wire: str) -> str:
    # The union's attribute for a wire name (``ipAllowList`` → ``ip_allow_list``).
    return next(f.name for f in msgspec.structs.fields(Middleware) if f.encode_name == wire)


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


# -- head-only layers fused (issue 22) ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HeadHooks:
    """What a middleware that only touches heads does, as plain callables the chain builder can fuse.

    A middleware instance offers them as its ``head_hooks`` attribute (None, or absent: it needs its own coroutine).
    The hooks must do exactly what the instance's ``__call__`` does: ``on_request`` what it does before awaiting its
    ``next`` (returning its early answer, already finished as the layer finishes it, or None), ``on_response`` what
    it does to the response ``next`` returned. Both read the request when they run, as ``__call__`` does.
    """

    on_request: RequestHook | None = None
    on_response: ResponseHook | None = None


def head_hooks_of(layer: Handler) -> HeadHooks | None:
    """The :class:`HeadHooks` a built middleware offers, or None when it must run as its own coroutine."""
    hooks = getattr(layer, "head_hooks", None)
    return hooks if isinstance(hooks, HeadHooks) else None


def fuse_heads(next: Handler, hooks: list[HeadHooks]) -> FusedHead:
    """One :class:`~hanzo_edge.http.fused_head.FusedHead` for a run of head-only layers (``hooks`` outermost first).

    Traefik's onion order is kept: request hooks outermost first; response hooks innermost first; an early answer
    from layer *i* goes back out through the response hooks of the layers outside *i* only.
    """
    return FusedHead(next, _requests_fused(hooks), _responses_fused([h.on_response for h in reversed(hooks)]))


def _responses_fused(hooks: list[ResponseHook | None]) -> ResponseHook | None:
    # One callable running ``hooks`` in the given order (the common single hook is returned as it is).
    chosen = tuple(hook for hook in hooks if hook is not None)
    if not chosen:
        return None
    if len(chosen) == 1:
        return chosen[0]

    def respond(req: Request, response: Response) -> None:
        for hook in chosen:
            hook(req, response)

    return respond


def _requests_fused(hooks: list[HeadHooks]) -> RequestHook | None:
    # Outermost first; an early answer from layer i goes out through the response hooks of layers i-1 .. 0.
    steps = tuple(
        (h.on_request, _responses_fused([o.on_response for o in reversed(hooks[:i])]))
        for i, h in enumerate(hooks)
        if h.on_request is not None
    )
    if not steps:
        return None
    if len(steps) == 1 and steps[0][1] is None:
        return steps[0][0]

    def answer(req: Request) -> Response | None:
        for on_request, outward in steps:
            early = on_request(req)
            if early is not None:
                if outward is not None:
                    outward(req, early)
                return early
        return None

    return answer
