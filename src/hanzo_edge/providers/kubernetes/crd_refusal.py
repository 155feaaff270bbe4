"""How the CRD provider disables one route with the reason, through the ordinary build.

Traefik drops a route whose Middleware is in a forbidden namespace, or whose TLS Secret is missing, leaving only a
log line. We keep the router and put a middleware of this kind in front of its chain, carrying the reason: the
build cannot make it (its factory refuses with the reason), so the router is disabled and ``/api`` shows
``middleware "<router>-refused@kubernetescrd": <reason>`` while every other route keeps serving.
"""

from __future__ import annotations

import msgspec

from hanzo_edge.http.messages import Handler
from hanzo_edge.middlewares.base import BuildContext, register

__all__ = ["KIND", "RefusedRoute", "refuse"]

KIND = "kubernetesCRDRefusal"


class RefusedRoute(msgspec.Struct, frozen=True, kw_only=True):
    """Why a route cannot be served (the CRD provider's error, in its words)."""

    reason: str


@register(KIND, RefusedRoute)
def refuse(next: Handler, config: RefusedRoute, /, *, name: str, ctx: BuildContext) -> Handler:
    """Never builds: the router using it is disabled with ``config.reason``."""
    raise ValueError(config.reason)
