"""``passTLSClientCert``: accepted now; it adds ``X-Forwarded-Tls-Client-Cert(-Info)`` once TLS entrypoints exist.

On a cleartext request Traefik's middleware adds nothing, and any client-sent ``X-Forwarded-Tls-Client-Cert*``
header is already removed at the entrypoint (a managed header), so passing the request through is exact until TLS
termination lands.
"""

from __future__ import annotations

from collections.abc import Awaitable

from hanzo_edge.config.middlewares import PassTLSClientCert as PassTLSClientCertConfig
from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.middlewares.base import BuildContext, register

__all__ = ["PassTLSClientCert"]


@register("passTLSClientCert")
class PassTLSClientCert:
    """Pass-through on cleartext entrypoints (the only kind served so far)."""

    __slots__ = ("name", "next", "pem")

    def __init__(self, next: Handler, config: PassTLSClientCertConfig, *, name: str, ctx: BuildContext) -> None:
        self.next = next
        self.name = name
        self.pem = bool(getattr(config, "pem", False))

    def __call__(self, req: Request) -> Awaitable[Response]:
        return self.next(req)
