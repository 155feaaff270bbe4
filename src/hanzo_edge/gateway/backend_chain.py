"""A KrakenD backend's own wrappers (``qos/circuit-breaker``, ``qos/ratelimit/proxy``, ``modifier/martian``,
``qos/http-cache``) around its call.

Backend-level namespaces give typed middleware options (registered kinds, ``middlewares/krakend_*.py``) like the
endpoint-level ones, but they wrap :meth:`~hanzo_edge.gateway.backend.BackendCall.send` (a
:data:`~hanzo_edge.http.messages.Handler` from the backend request to its response) instead of a router: what they
see is the backend's request and answer, and a refusal is an ``UpstreamError`` the merge counts as the backend's
failure (500, or a partial answer), as Lura's backend proxies return errors. Built once per generation with the
endpoint's service.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from hanzo_edge.http.messages import Handler
from hanzo_edge.middlewares.base import BuildContext, kind_of

__all__ = ["BACKEND_ORDER", "wrap_backend"]

# krakend-ce's backend factory stack, outermost first (backend_factory.go): the breaker sees the limiter's refusals.
BACKEND_ORDER: dict[str, int] = {
    "qos/circuit-breaker": 0,
    "qos/ratelimit/proxy": 1,
    "modifier/martian": 2,
    "qos/http-cache": 3,
}


def wrap_backend(
    send: Handler, wrappers: Sequence[object], *, name: str, origin: str, clock: Callable[[], float] | None = None
) -> Handler:
    """Wrap ``send`` in ``wrappers`` (typed options, outermost first). Raises ValueError for an unregistered kind.

    ``origin`` (the backend's hosts) is the build context's ``router``: the HTTP cache keys by it.
    """
    ctx = (
        BuildContext(router=origin, provider="gateway")
        if clock is None
        else BuildContext(origin, "gateway", clock=clock)
    )
    handler = send
    for options in reversed(wrappers):
        kind = kind_of(options)
        if kind is None:
            raise ValueError(f"no middleware kind is registered for {type(options).__name__}")
        handler = kind.factory(handler, options, name=f"{name}-{kind.name}", ctx=ctx)
    return handler
