"""``validation/cel``, ``modifier/lua-endpoint``, ``modifier/lua-proxy`` and ``modifier/lua-backend``: refused.

Each runs user code against KrakenD's own API (CEL over ``req_*``/``resp_*``/``JWT`` variables; Lua over
krakend-lua's ``ctx``, ``request``/``response`` userdata and helpers such as ``custom_error``). Doing either
faithfully is more than a binding to a CEL or Lua engine, so an endpoint that uses one is **not served**: ``gateway
check`` warns (exit 0, per the interface's rule that warnings never fail check) naming the namespace, and ``run``
logs an error naming the namespace and the endpoint, and leaves the endpoint out (it answers 404) while the rest
serve. Never silently ignored: a validation or a script that does not run must not look like one that passed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hanzo_edge.gateway.errors import GatewayWarning, JsonPath
from hanzo_edge.gateway.extra_config import NamespaceResult, namespace

__all__ = ["DISABLE_ENDPOINT", "refuse"]

DISABLE_ENDPOINT = "disable_endpoint"
"""The settings key a handler sets (with the reason) when its endpoint must not be served."""

_REFUSED = ("validation/cel", "modifier/lua-endpoint", "modifier/lua-proxy", "modifier/lua-backend")


def _refuser(name: str) -> Any:
    def refuse(config: Mapping[str, Any], where: JsonPath) -> NamespaceResult:
        reason = f"namespace {name} is not supported: the endpoint is disabled"
        return NamespaceResult(warnings=(GatewayWarning(where, reason),), settings={DISABLE_ENDPOINT: reason})

    refuse.__name__ = f"refuse_{name.replace('/', '_').replace('-', '_')}"
    return refuse


for _name in _REFUSED:
    namespace(_name, scopes={"endpoint", "backend"})(_refuser(_name))

refuse = _refuser
