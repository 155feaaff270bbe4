"""``security/cors`` (krakend-cors over rs/cors) → the ``krakendCors`` middleware, wrapped around the whole router.

A service-level namespace. The result asks (``settings["before_routing"]``) to wrap everything the gateway answers
— endpoints, the router's 404/405/redirects, ``/__health`` — so preflights are answered before any routing or
auth for any path (gateway-interface.md item 6), as krakend-cors wraps KrakenD's whole HTTP handler.

krakend-cors' defaults: ``allow_origins`` empty means every origin; ``allow_headers`` defaults to ``[]`` and
``Origin`` is always appended, so a preflight asking for any other header is refused unless it is listed (or ``*``);
``allow_methods`` empty means rs/cors' GET, POST, HEAD; ``max_age`` is a Go duration (whole seconds are sent; 0 sends
no header); ``options_success_status`` 204.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hanzo_edge.gateway.errors import JsonPath
from hanzo_edge.gateway.extra_config import NamespaceMiddleware, NamespaceResult, namespace
from hanzo_edge.gateway.namespaces._values import Block
from hanzo_edge.middlewares.krakend_cors import KrakendCorsConfig

__all__ = ["cors"]


def _with_origin(headers: tuple[str, ...]) -> tuple[str, ...]:
    """KrakenD's ``allow_headers``: the listed headers and ``Origin`` (never "every header" by default)."""
    if "*" in headers or any(h.strip().lower() == "origin" for h in headers):
        return headers
    return (*headers, "Origin")


@namespace("security/cors", scopes={"service"})
def cors(config: Mapping[str, Any], where: JsonPath) -> NamespaceResult:
    """Validate a ``security/cors`` block; return its ``krakendCors`` middleware, to wrap the whole router."""
    block = Block(config, where)
    status = block.integer("options_success_status", 204) or 204
    if not 200 <= status <= 299:
        raise block.error("options_success_status", f"{status} is not a 2xx status")
    options = KrakendCorsConfig(
        allow_origins=block.strings("allow_origins") or ("*",),
        allow_methods=block.strings("allow_methods") or ("GET", "POST", "HEAD"),
        allow_headers=_with_origin(block.strings("allow_headers")),
        expose_headers=block.strings("expose_headers"),
        allow_credentials=block.boolean("allow_credentials"),
        max_age=int(block.duration("max_age", 0.0)),
        allow_private_network=block.boolean("allow_private_network"),
        options_passthrough=block.boolean("options_passthrough"),
        options_success_status=status,
        debug=block.boolean("debug"),
    )
    if options.allow_credentials and "*" in options.allow_origins:
        block.warn(
            "allow_credentials",
            'allow_credentials with every origin allowed: responses say "Access-Control-Allow-Origin: *", which '
            "browsers refuse for credentialed requests (as rs/cors); list the origins",
        )
    middleware = NamespaceMiddleware("cors", "krakendCors", options)
    return NamespaceResult(middlewares=(middleware,), warnings=tuple(block.warnings), settings={"before_routing": True})
