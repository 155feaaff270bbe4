"""Hanzo's backend namespace ``github.com/hanzoai/gateway/zap`` (13 backends of Hanzo's production file).

In hanzoai/gateway it sends the backend call over ZAP (luxfi/zap's binary RPC to ``peer_addr``) and falls back to
plain HTTP on any ZAP error. We recognise the block, check its shape, and serve the backend over HTTP to its
``host`` (the fallback path), which ``gateway check`` says as a warning so nobody believes ZAP is in use.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hanzo_edge.gateway.errors import GatewayConfigError, GatewayWarning, JsonPath
from hanzo_edge.gateway.extra_config import NamespaceResult, namespace

__all__ = ["hanzo_zap"]

NAMESPACE = "github.com/hanzoai/gateway/zap"
_STRINGS = ("node_id", "peer_id", "peer_addr", "service_type")
_INTEGERS = ("port", "timeout_ms")


@namespace(NAMESPACE, scopes={"backend"})
def hanzo_zap(config: Mapping[str, Any], where: JsonPath) -> NamespaceResult:
    """Validate a ZAP block; warn that the backend is served over HTTP."""
    for key in _STRINGS:
        if key in config and not isinstance(config[key], str):
            raise GatewayConfigError((*where, key), "want a string")
    for key in _INTEGERS:
        value = config.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise GatewayConfigError((*where, key), "want a non-negative integer")
    if "no_discovery" in config and not isinstance(config["no_discovery"], bool):
        raise GatewayConfigError((*where, "no_discovery"), "want true or false")
    warning = GatewayWarning(
        where, "ZAP backends are not supported yet: this backend is served over HTTP to its host (ZAP's fallback)"
    )
    return NamespaceResult(warnings=(warning,))
