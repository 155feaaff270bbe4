"""``modifier/martian`` (backend): the common martian modifiers, flattened for ``middlewares/krakend_martian.py``.

The block is one modifier object ``{"<kind>": {...}}``. Honoured: ``header.Modifier``, ``header.Append``,
``header.Blacklist``, ``querystring.Modifier``, ``body.Modifier`` and ``fifo.Group`` (its ``modifiers`` in order).
Any other kind (filters, ``priority.Group``, ``cookie.*``, ``url.*``, ``port.*``, ``stash.*``, ``header.Copy``,
``header.Id``...) is a ``gateway check`` warning naming it at its JSON path, and is left out; the rest of the tree
still applies. ``scope`` defaults to ``["request", "response"]`` as martian's parsers do.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from hanzo_edge.gateway.errors import GatewayConfigError, GatewayWarning, JsonPath
from hanzo_edge.gateway.extra_config import NamespaceMiddleware, NamespaceResult, namespace
from hanzo_edge.gateway.namespaces._values import Block
from hanzo_edge.middlewares.krakend_martian import KrakendMartianConfig, MartianOp

__all__ = ["martian"]


def _scope(block: Block) -> tuple[bool, bool]:
    raw = block.strings("scope") or ("request", "response")
    for item in raw:
        if item not in ("request", "response"):
            raise block.error("scope", f'want "request" and/or "response", not {item!r}')
    return "request" in raw, "response" in raw


def _flatten(node: Any, where: JsonPath, ops: list[MartianOp], warnings: list[GatewayWarning]) -> None:
    if not isinstance(node, Mapping) or len(node) != 1:
        raise GatewayConfigError(where, 'want one modifier object such as {"header.Modifier": {...}}')
    ((kind, raw),) = node.items()
    at = (*where, kind)
    if not isinstance(raw, Mapping):
        raise GatewayConfigError(at, "want an object")
    block = Block(raw, at)
    if kind == "fifo.Group":
        modifiers = raw.get("modifiers")
        if not isinstance(modifiers, list):
            raise block.error("modifiers", "want an array of modifiers")
        for index, child in enumerate(modifiers):
            _flatten(child, (*at, "modifiers", index), ops, warnings)
        return
    request, response = _scope(block)
    if kind in ("header.Modifier", "header.Append"):
        name = block.string("name")
        if not name:
            raise block.error("name", "want a header name")
        ops.append(MartianOp(kind=kind, request=request, response=response, name=name, value=block.string("value")))
    elif kind == "header.Blacklist":
        ops.append(MartianOp(kind=kind, request=request, response=response, names=block.strings("names")))
    elif kind == "querystring.Modifier":
        name = block.string("name")
        if not name:
            raise block.error("name", "want a parameter name")
        ops.append(MartianOp(kind=kind, request=True, response=False, name=name, value=block.string("value")))
    elif kind == "body.Modifier":
        try:
            body = base64.b64decode(block.string("body"), validate=True)
        except (binascii.Error, ValueError):
            raise block.error("body", "want base64-encoded bytes") from None
        ops.append(
            MartianOp(
                kind=kind, request=request, response=response, body=body, content_type=block.string("contentType")
            )
        )
    else:
        warnings.append(GatewayWarning(at, f"martian modifier {kind} is not supported: left out"))
    warnings.extend(block.warnings)


@namespace("modifier/martian", scopes={"backend"})
def martian(config: Mapping[str, Any], where: JsonPath) -> NamespaceResult:
    """Flatten the modifier tree; return the ``krakendMartian`` wrapper (none when nothing is honoured)."""
    ops: list[MartianOp] = []
    warnings: list[GatewayWarning] = []
    _flatten(config, where, ops, warnings)
    if not ops:
        return NamespaceResult(warnings=tuple(warnings))
    middleware = NamespaceMiddleware("martian", "krakendMartian", KrakendMartianConfig(ops=tuple(ops)))
    return NamespaceResult(middlewares=(middleware,), warnings=tuple(warnings))
