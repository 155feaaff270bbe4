"""The Hanzo chain (:mod:`hanzo_edge.gateway.hanzo.chain`) as a router middleware, for ``ingress``'s gateway provider.

``gateway run`` puts the chain around its whole gin router. Under ``ingress --providers.gateway.filename`` there is
no gin router: each endpoint is a router, so the chain is this middleware on each of them (inside
``security/cors``, as in ``gateway run``), and, when there is a host table (``routes.yaml``), on one more router
that takes every other request of the gateway's rule (the host table proxies hosts the endpoints do not know).

The chain is configured by the environment, as ``gateway run``'s (``HanzoSettings.from_env``: identity-header
stripping always; auth, billing, widget gate when their variables turn them on). One chain per process and
process is shared by every router (one JWKS cache, one widget window, one host table, polled for changes).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import msgspec

from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.http.pool import PoolRegistry
from hanzo_edge.middlewares.base import BuildContext, register
from hanzo_edge.services.registry import ServiceContext, ServiceKind, register_service

__all__ = ["HanzoChainConfig", "NotFoundConfig", "not_found"]


class HanzoChainConfig(msgspec.Struct, frozen=True, kw_only=True):
    """The gateway's endpoints (method, path, ``auth/public``) and its health path, as the chain needs them."""

    endpoints: tuple[tuple[str, str, bool], ...]
    health_path: str = "/__health"


_CHAINS: dict[str, Any] = {}
_POOLS = PoolRegistry()
_WATCHERS: set[asyncio.Task[None]] = set()


def _chain() -> Any:
    from hanzo_edge.gateway.hanzo.chain import HanzoChain
    from hanzo_edge.gateway.hanzo.settings import HanzoSettings

    # The environment does not change while the process runs: one chain (JWKS cache, widget windows, host table).
    chain = _CHAINS.get("process")
    if chain is None:
        settings = HanzoSettings.from_env(os.environ)
        chain = HanzoChain(settings, _POOLS, endpoint_body_limit=0)  # the ingress entrypoint's limit applies
        _CHAINS["process"] = chain
        if settings.routes_file:
            try:
                task = asyncio.get_running_loop().create_task(chain.watch_routes())
            except RuntimeError:  # built offline (ingress check): nothing to watch
                pass
            else:
                _WATCHERS.add(task)
                task.add_done_callback(_WATCHERS.discard)
    return chain


class NotFoundConfig(msgspec.Struct, frozen=True, kw_only=True):
    """The ``gatewayNotFound`` service: gin's 404 behind the host-table router (no options)."""


async def not_found(req: Request) -> Response:
    """gin's 404 (the host table's fall-through when no endpoint matches)."""
    return Response(404, Headers([(b"Content-Type", b"text/plain")]), b"404 page not found")


def _build_not_found(config: NotFoundConfig, ctx: ServiceContext) -> Handler:
    return not_found


NOT_FOUND_KIND = register_service(ServiceKind("gatewayNotFound", NotFoundConfig, _build_not_found))


@register("hanzoGatewayChain", HanzoChainConfig)
def hanzo_gateway_chain(next: Handler, config: HanzoChainConfig, *, name: str, ctx: BuildContext) -> Handler:
    """Wrap ``next`` in the process's Hanzo chain for ``config``. Raises ValueError for a bad environment."""
    from hanzo_edge.gateway.hanzo.host_table import HostTableError
    from hanzo_edge.gateway.hanzo.settings import SettingsError

    try:
        chain = _chain()
    except (SettingsError, HostTableError) as exc:
        raise ValueError(f"Hanzo chain: {exc}") from None
    # This generation's endpoints decide which requests are auth/public.
    wrapped: Handler = chain.wrap(next, config.endpoints, config.health_path)
    return wrapped
