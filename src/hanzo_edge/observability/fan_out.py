"""An entrypoint's observers behind one call (issue 22): what ``App._observer_for`` hands the request pipeline.

With two or more observers on (metrics and the access log, say), or routers that override ``observability``, the
pipeline's one observer call has to reach several hooks. These are the callables that do it. This module is compiled
with the hot path (``scripts/build_compiled.py``): as interpreted closures they were one more Python frame per
request. The numbers are typed ``Any`` on purpose: the native call then hands the caller's objects on as they are,
where a ``float`` or ``int`` parameter would be unboxed on entry and boxed again for every hook. The usual hooks,
the access log's and the metrics' (both compiled), are called as native methods of their objects rather than
through their bound methods, which parse and unbox the five arguments on every call.
"""

from __future__ import annotations

from typing import Any

from hanzo_edge.http.messages import Request
from hanzo_edge.http.settings import RequestObserver
from hanzo_edge.observability.accesslog.batch import LineBatch
from hanzo_edge.observability.metrics import Metrics

__all__ = ["FanOut", "PerRouterObservers"]


class FanOut:
    """Call every hook of ``hooks`` in order (two or more; tracing last, as the app orders them)."""

    def __init__(self, hooks: tuple[RequestObserver, ...]) -> None:
        self.hooks = hooks
        # The leading hooks that are the access log's LineBatch.observe, then Metrics.observer (the app's order),
        # are called natively; ``rest`` keeps every other hook, after them, in order.
        rest = list(hooks)
        self.batch: LineBatch | None = None
        self.metrics: Metrics | None = None
        owner = getattr(rest[0], "__self__", None) if rest else None
        if isinstance(owner, LineBatch) and rest[0] == owner.observe:
            self.batch = owner
            rest.pop(0)
        owner = getattr(rest[0], "__self__", None) if rest else None
        if isinstance(owner, Metrics) and rest[0] == owner.observer:
            self.metrics = owner
            rest.pop(0)
        self.rest = tuple(rest)

    def __call__(self, req: Request, status: Any, size: Any, duration: Any, aborted: Any) -> None:
        batch = self.batch
        if batch is not None:
            batch.observe(req, status, size, duration, aborted)
        metrics = self.metrics
        if metrics is not None:
            metrics.observer(req, status, size, duration, aborted)
        for hook in self.rest:
            hook(req, status, size, duration, aborted)


class PerRouterObservers:
    """The observers of an entrypoint some of whose routers set ``observability`` themselves.

    ``features`` is every observer that is on anywhere, as ``(hook, index in Route.observability, entrypoint
    default)``; ``defaults`` the hooks the entrypoint's own settings switch on. A request whose router overrides
    nothing gets ``defaults``; otherwise each feature runs when the router's explicit setting, or else the
    entrypoint's default, says so.
    """

    def __init__(
        self, features: tuple[tuple[RequestObserver, int, bool], ...], defaults: tuple[RequestObserver, ...]
    ) -> None:
        self.features = features
        self.defaults = defaults

    def __call__(self, req: Request, status: Any, size: Any, duration: Any, aborted: Any) -> None:
        route = req.route
        overrides: tuple[bool | None, bool | None, bool | None] | None = (
            route.observability if route is not None else None
        )
        if overrides is None:
            for hook in self.defaults:
                hook(req, status, size, duration, aborted)
            return
        for hook, index, default in self.features:
            flag = overrides[index]
            if default if flag is None else flag:
                hook(req, status, size, duration, aborted)
