"""Build each router's middleware chain through the registry, memoised across configuration generations.

Order (Traefik): the entrypoint's ``http.middlewares`` first, then the router's, each ``chain`` expanded in place.
Instances are per router. A layer is reused from the previous generation when the router, the middleware, its
configuration and the handler it wraps are all unchanged, so stateful middlewares (rate limits, breakers) keep
their state across a reload that did not touch them.

Errors name the middleware and disable the router: a reference to a middleware that does not exist, a kind that is
parsed but not implemented yet, a ``chain`` cycle, or a configuration its constructor rejects.

Each middleware's factory is found by the type of its configuration model (``middlewares.base.kind_of``), so the
builder knows no kind by name; only ``chain`` (expanded here) and ``buffering`` (whose limit the protocol applies)
are read by their models.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from hanzo_edge.config.middlewares import Buffering, Chain, Middleware
from hanzo_edge.config.runtime import qualify
from hanzo_edge.http.messages import Handler
from hanzo_edge.middlewares.base import BuildContext, HeadHooks, fuse_heads, head_hooks_of, kind_of

__all__ = ["MiddlewareBuilder", "MiddlewareError"]

_LayerKey = tuple[str, str, Middleware, Handler]
_FUSED = "\x00fused"  # marks the key of a fused run of head-only layers (keyed by its outermost layer)


class MiddlewareError(Exception):
    """A router's middleware chain cannot be built; ``middleware`` names the culprit (qualified)."""

    def __init__(self, middleware: str, message: str) -> None:
        super().__init__(message)
        self.middleware = middleware


class MiddlewareBuilder:
    """Resolves and builds middleware chains for the routers of one generation."""

    def __init__(
        self,
        definitions: Mapping[str, tuple[str, Middleware]],
        previous: Mapping[_LayerKey, Handler] | None = None,
        service: Callable[[str], Handler | None] | None = None,
    ) -> None:
        self.definitions = definitions
        self.service = service
        self.previous = previous or {}
        self.layers: dict[_LayerKey, Handler] = {}
        self.reused = 0

    def resolve(self, names: Sequence[str], provider: str) -> list[str]:
        """Return the qualified middleware names in application order, ``chain`` expanded.

        Raises MiddlewareError for a missing middleware or a chain cycle.
        """
        out: list[str] = []
        self._expand(names, provider, out, [])
        return out

    def _expand(self, names: Sequence[str], provider: str, out: list[str], stack: list[str]) -> None:
        for name in names:
            qname = qualify(name, provider)
            entry = self.definitions.get(qname)
            if entry is None:
                raise MiddlewareError(qname, f'middleware "{qname}" does not exist')
            owner, middleware = entry
            config = middleware.config
            if isinstance(config, Chain):
                if qname in stack:
                    raise MiddlewareError(qname, f"middleware chain cycle: {' -> '.join([*stack, qname])}")
                self._expand(config.middlewares, owner, out, [*stack, qname])
            else:
                out.append(qname)

    def body_limit(self, qnames: Sequence[str]) -> int | None:
        """Return the request-body limit the ``buffering`` middlewares among ``qnames`` set, None if there are none.

        Computed once per router and generation, so a request pays nothing to learn it. A ``buffering`` middleware
        replaces the entrypoint's ``maxRequestBodyBytes``, up or down, with its own (``0``: no limit); with several,
        each enforces its own, so the smallest limit wins.
        """
        configs = [self.definitions[qname][1].config for qname in qnames]
        limits = [config.max_request_body_bytes for config in configs if isinstance(config, Buffering)]
        if not limits:
            return None
        bounded = [limit for limit in limits if limit > 0]
        return min(bounded) if bounded else 0

    def _service_resolver(self, provider: str) -> Callable[[str], Handler | None]:
        lookup = self.service

        def resolve(name: str) -> Handler | None:
            return None if lookup is None else lookup(qualify(name, provider))

        return resolve

    def wrap(
        self,
        router: str,
        provider: str,
        qnames: Sequence[str],
        handler: Handler,
        record: list[_LayerKey] | None = None,
    ) -> Handler:
        """Wrap ``handler`` in the middlewares ``qnames`` (outermost first). Raises MiddlewareError.

        ``record`` receives the key of each layer, so a router replayed by the next generation keeps its layers.

        A run of consecutive head-only layers (``head_hooks``, see :class:`~hanzo_edge.http.fused_head.FusedHead`)
        is served as one :class:`FusedHead` around the handler inside the run: the layers are still built (and
        reused) one by one, and the fused handler is memoised like a layer, keyed by the run's outermost layer.
        """
        run: list[HeadHooks] = []  # the current run of head-only layers, innermost first
        run_inner = handler  # what that run wraps
        for qname in reversed(qnames):
            owner, middleware = self.definitions[qname]
            config = middleware.config
            kind = kind_of(config)
            if kind is None:
                raise MiddlewareError(qname, f'middleware "{qname}": kind "{middleware.kind}" is not implemented yet')
            key: _LayerKey = (router, qname, middleware, handler)
            built = self.previous.get(key)
            if built is not None:
                self.reused += 1
            else:
                ctx = BuildContext(router, owner, service=self._service_resolver(owner))
                try:
                    built = kind.factory(handler, config, name=qname, ctx=ctx)
                except ValueError as exc:
                    raise MiddlewareError(qname, f'middleware "{qname}": {exc}') from None
            self.layers[key] = built
            if record is not None:
                record.append(key)
            hooks = head_hooks_of(built)
            if hooks is None:
                run = []
                handler = built
                continue
            if not run:
                run_inner = handler
            run.append(hooks)
            # The run so far, fused; the next layer out wraps this (a plain layer) or extends the run.
            fused_key: _LayerKey = (router, qname + _FUSED, middleware, built)
            fused = self.previous.get(fused_key)
            if fused is None:
                fused = fuse_heads(run_inner, run[::-1])
            self.layers[fused_key] = fused
            if record is not None:
                record.append(fused_key)
            handler = fused
        return handler
