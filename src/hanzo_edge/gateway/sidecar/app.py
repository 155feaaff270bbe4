"""The sidecar served by the ingress machinery: one entrypoint whose whole table is the :class:`SidecarRouter`.

:class:`SidecarApp` is an :class:`~hanzo_edge.app.IngressApp` (listener, connection pipeline, shared request pipeline,
pools, drain on SIGTERM) with a single ``ingress`` entrypoint at the file's ``listen`` and no providers; its
:meth:`build` replaces that entrypoint's (empty) table with one that hands every request to the router. Hanzo's
server settings become the entrypoint's: read timeout 30 s, write 120 s, idle 120 s, 15 s to drain, no body limit,
and ``X-Forwarded-For`` trusted (the sidecar sits behind Cloudflare and takes ``X-Real-IP`` from it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hanzo_edge.app import IngressApp
from hanzo_edge.config.static import StaticConfig
from hanzo_edge.gateway.hanzo.settings import HanzoSettings
from hanzo_edge.gateway.hanzo.tokens import JwtVerifier
from hanzo_edge.gateway.sidecar.document import SidecarConfig
from hanzo_edge.gateway.sidecar.router import SidecarRouter
from hanzo_edge.http.messages import Handler, Request
from hanzo_edge.routing.build import BuildResult
from hanzo_edge.routing.table import RoutingTable

__all__ = ["ENTRY_POINT", "SidecarApp", "SidecarTable", "sidecar_static"]

ENTRY_POINT = "ingress"


def sidecar_static(listen: str, log_level: str = "INFO") -> StaticConfig:
    """The static configuration of a sidecar process (only the ``ingress`` entrypoint)."""
    from hanzo_edge.config.loader import load_static

    ep = f"--entrypoints.{ENTRY_POINT}"
    args = [
        f"{ep}.address={listen}",
        f"{ep}.forwardedHeaders.insecure=true",
        f"{ep}.transport.respondingTimeouts.readTimeout=30s",
        f"{ep}.transport.respondingTimeouts.writeTimeout=120s",
        f"{ep}.transport.respondingTimeouts.idleTimeout=120s",
        f"{ep}.transport.lifeCycle.graceTimeOut=15s",
        f"{ep}.http.maxRequestBodyBytes=0",
        f"--log.level={log_level}",
    ]
    return load_static(args, {}, search=False)


class SidecarTable(RoutingTable):
    """An entrypoint table with no routers: every request goes to the sidecar's router."""

    __slots__ = ("_handler",)

    def __init__(self, handler: Handler, generation: int = 0) -> None:
        super().__init__((), handler, generation)
        self._handler = handler

    def lookup(self, req: Request) -> Handler:
        return self._handler


class SidecarApp(IngressApp):
    """See the module docstring."""

    def __init__(self, static: StaticConfig, config: SidecarConfig, settings: HanzoSettings) -> None:
        super().__init__(static, provider_factories={})
        auth_hosts = config.auth_hosts
        verifier = None
        if auth_hosts:
            # Only auth hosts need the IAM keys (and cryptography): JWKS, issuer and audience from AUTH_*.
            verifier = JwtVerifier(settings.jwks_url, settings.issuer, settings.audience)
        self.router = SidecarRouter(config.host_table(), config.health_path, auth_hosts, self.pools, verifier)

    def build(
        self, snapshots: Mapping[str, Any], *, previous: BuildResult | None = None, generation: int = 0
    ) -> BuildResult:
        result = super().build(snapshots, previous=previous, generation=generation)
        result.tables[ENTRY_POINT] = SidecarTable(self.router, generation)
        return result
