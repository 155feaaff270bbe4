"""The ZAP listener: a TLS 1.3 (post-quantum preferred) listener whose connections are piped to the internal node.

It is an ordinary :class:`~hanzo_edge.server.listener.Listener` with its own
:class:`~hanzo_edge.http.settings.ConnectionContext` (open connections, the deadline ticker that enforces the
handshake timeout, graceful drain), registered in the app beside the gateway entrypoint, so a SIGTERM stops it
accepting and waits for its streams exactly as for HTTP connections.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from hanzo_edge.gateway.zap.connection import ZapConnection, ZapTarget
from hanzo_edge.gateway.zap.contexts import PQ_GROUP, CertificateError, negotiates, openssl_version, server_context
from hanzo_edge.gateway.zap.settings import ZapSettings
from hanzo_edge.http.messages import Handler, Request
from hanzo_edge.http.settings import ConnectionContext, EntrypointSettings
from hanzo_edge.server.listener import Listener

if TYPE_CHECKING:
    from hanzo_edge.app import IngressApp

__all__ = ["ZAP_NAME", "attach_zap_listener", "zap_target"]

log = logging.getLogger("hanzo_edge.gateway.zap")

ZAP_NAME = "zap"
"""The listener's name in the app's ``listeners`` and ``contexts`` (and in its log lines)."""


def _no_http(_req: Request) -> Handler:
    raise LookupError("the ZAP listener carries byte streams, not HTTP requests")


def zap_target(settings: ZapSettings) -> ZapTarget:
    """Load the certificate and build what the connections share. Raises CertificateError naming the file."""
    context = server_context(settings.cert_file, settings.key_file)
    group = negotiates(context)
    if group != PQ_GROUP:
        # Still TLS 1.3, still useful; but the operator asked for post-quantum key exchange and must know.
        log.warning("ZAP listener: %s negotiates %s, not %s", openssl_version(), group, PQ_GROUP)
    return ZapTarget(
        context,
        settings.internal_host,
        settings.internal_port,
        handshake_timeout=settings.handshake_timeout,
    )


async def attach_zap_listener(app: IngressApp, settings: ZapSettings, host: str) -> Listener | None:
    """Start the listener on ``host``:``ZAP_LISTENER_PORT`` and hand it to ``app`` (which drains and stops it).

    Any failure (certificate, bind) is logged as an error and None returned: the gateway serves HTTP without ZAP.
    """
    try:
        target = zap_target(settings)
    except CertificateError as exc:
        log.error("ZAP listener not started: %s", exc)
        return None
    loop = asyncio.get_running_loop()
    # read_timeout only sets the ticker's period (a fifth of it): the handshake deadline is the connection's own.
    ep_settings = EntrypointSettings(name=ZAP_NAME, read_timeout=settings.handshake_timeout, idle_timeout=0)
    ctx = ConnectionContext(ep_settings, _no_http, loop)
    listener = Listener(ctx, host, settings.port, protocol_factory=lambda: ZapConnection(ctx, target))
    try:
        await listener.start()
    except OSError as exc:
        log.error("ZAP listener not started: cannot listen on %s:%d: %s", host or "*", settings.port, exc)
        return None
    app.contexts[ZAP_NAME] = ctx
    app.listeners[ZAP_NAME] = listener
    log.info(
        "ZAP listener on %s:%d (TLS 1.3, %s preferred) -> %s",
        host or "*",
        listener.port,
        PQ_GROUP,
        settings.internal_addr,
    )
    return listener
