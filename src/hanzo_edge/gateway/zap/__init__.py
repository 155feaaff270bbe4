"""Hanzo's ZAP listener (hanzoai/gateway ``zap_listener.go``): TLS 1.3 with the hybrid post-quantum group
X25519MLKEM768, terminated in the event loop and piped as a byte stream to ``ZAP_INTERNAL_ADDR``.

pyOpenSSL is imported only when ``ZAP_LISTENER_ENABLED=true``: :func:`start_zap_listener` reads the settings first
and loads the listener module only then. ZAP *backends* (luxfi/zap's binary RPC) are not implemented here.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from hanzo_edge.gateway.zap.settings import ZapSettings, ZapSettingsError

if TYPE_CHECKING:
    from hanzo_edge.app import IngressApp
    from hanzo_edge.server.listener import Listener

__all__ = ["ZapSettings", "ZapSettingsError", "start_zap_listener"]

log = logging.getLogger("hanzo_edge.gateway.zap")


async def start_zap_listener(app: IngressApp, env: Mapping[str, str], host: str) -> Listener | None:
    """Start the ZAP listener when ``ZAP_LISTENER_ENABLED=true``; None when disabled or when it cannot start (the
    reason is logged as an error: the gateway keeps serving HTTP, as hanzoai/gateway does)."""
    if env.get("KRAKEND_ZAP_LISTEN", "").strip():
        # Later hanzoai/gateway's ZAP-HTTP listener (zaphttp_listener.go): named, not silently ignored.
        log.warning("KRAKEND_ZAP_LISTEN is not supported (the ZAP-HTTP listener); ignored")
    try:
        settings = ZapSettings.from_env(env)
    except ZapSettingsError as exc:
        log.error("ZAP listener not started: %s", exc)
        return None
    if not settings.enabled:
        return None
    from hanzo_edge.gateway.zap.listener import attach_zap_listener

    return await attach_zap_listener(app, settings, host)
