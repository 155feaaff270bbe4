"""``modifier/martian`` (krakend-martian over google/martian v3) around one KrakenD backend: the common modifiers.

The namespace's modifier tree (:mod:`hanzo_edge.gateway.namespaces.martian` reads it) is flattened into a list of
operations, applied in order to the backend request before the call (scope ``request``) and to the backend's
response after it (scope ``response``):

* ``header.Modifier``: set a header (replacing its values); ``header.Append``: add a value;
  ``header.Blacklist``: remove headers;
* ``querystring.Modifier``: set a query parameter (replacing its values);
* ``body.Modifier``: replace the body (given base64-encoded) and its ``Content-Type``;
* ``fifo.Group``: its modifiers in order (the flattening).

As in KrakenD, a response-side change reaches the client only through a ``no-op`` endpoint: a merging endpoint
decodes the (modified) body but sends its own headers.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

import msgspec

from hanzo_edge.http.body import StreamBody
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.middlewares.base import BuildContext, register

__all__ = ["KrakendMartianConfig", "MartianOp"]

OP_KINDS = frozenset({"header.Modifier", "header.Append", "header.Blacklist", "querystring.Modifier", "body.Modifier"})


class MartianOp(msgspec.Struct, frozen=True, kw_only=True):
    """One flattened modifier: its martian name, where it applies, and its values."""

    kind: str
    request: bool = True
    response: bool = False
    name: str = ""
    value: str = ""
    names: tuple[str, ...] = ()
    body: bytes = b""
    content_type: str = ""


class KrakendMartianConfig(msgspec.Struct, frozen=True, kw_only=True):
    """The modifiers, in application order."""

    ops: tuple[MartianOp, ...]


def _headers(headers: Headers, op: MartianOp) -> None:
    if op.kind == "header.Modifier":
        headers.set(op.name, op.value)
    elif op.kind == "header.Append":
        headers.add(op.name, op.value)
    elif op.kind == "header.Blacklist":
        for name in op.names:
            headers.remove(name)


def _set_body(headers: Headers, op: MartianOp) -> bytes:
    headers.remove("Content-Length")
    headers.remove("Transfer-Encoding")
    if op.content_type:
        headers.set("Content-Type", op.content_type)
    return op.body


def _modify_request(req: Request, ops: tuple[MartianOp, ...]) -> None:
    for op in ops:
        if op.kind == "querystring.Modifier":
            pairs = [(k, v) for k, v in parse_qsl(req.query, keep_blank_values=True) if k != op.name]
            pairs.append((op.name, op.value))
            req.query = urlencode(pairs)
            req.target = f"{req.path}?{req.query}"
        elif op.kind == "body.Modifier":
            if isinstance(req.body, StreamBody):
                req.body.discard()
            req.body = _set_body(req.headers, op)
        else:
            _headers(req.headers, op)


@register("krakendMartian", KrakendMartianConfig)
class KrakendMartian:
    """The wrapper (see the module docstring)."""

    __slots__ = ("next", "request_ops", "response_ops")

    def __init__(self, next: Handler, config: KrakendMartianConfig, *, name: str, ctx: BuildContext) -> None:
        for op in config.ops:
            if op.kind not in OP_KINDS:
                raise ValueError(f"martian modifier {op.kind} is not supported")
        self.next = next
        self.request_ops = tuple(op for op in config.ops if op.request)
        self.response_ops = tuple(op for op in config.ops if op.response and op.kind != "querystring.Modifier")

    async def __call__(self, req: Request) -> Response:
        if self.request_ops:
            _modify_request(req, self.request_ops)
        response = await self.next(req)
        for op in self.response_ops:
            if op.kind == "body.Modifier":
                if isinstance(response.body, StreamBody):
                    response.body.discard()
                response.body = _set_body(response.headers, op)
            else:
                _headers(response.headers, op)
        return response
