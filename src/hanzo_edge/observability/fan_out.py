"""An entrypoint's observers behind one call (issue 22): what ``App._observer_for`` hands the request pipeline.

With two or more observers on (metrics and the access log, say), or routers that override ``observability``, the
pipeline's one observer call has to reach several hooks. These are the callables that do it. This module is compiled
with the hot path (``scripts/build_compiled.py``): as interpreted closures they were one more Python frame per
request. The numbers are typed ``Any`` on purpose: the native call then hands the caller's objects on as they are,
where a ``float`` or ``int`` parameter would be unboxed on entry and boxed again for every hook.
"""

from __future__ import annotations

from typing import Any

from hanzo_edge.http.messages import Request
from hanzo_edge.http.settings import RequestObserver

__all__ = ["FanOut", "PerRouterObservers"]


class FanOut:
    """Call every hook of ``hooks`` in order (two or more; tracing last, as the app orders them)."""

    def __init__(self, hooks: tuple[RequestObserver, ...]) -> None:
        self.hooks = hooks

    def __call__(self, req: Request, status: Any, size: Any, duration: Any, aborted: Any) -> None:
        for hook in self.hooks:
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
