"""KrakenD's ``/__debug/`` and ``/__echo/`` handlers (Lura ``router/gin/debug.go`` and ``echo.go``), before routing.

Enabled by the service's ``debug_endpoint`` (or ``gateway run -d``) and ``echo_endpoint``. They wrap the gateway's
whole router (inside ``security/cors``), as gin routes ``/__debug/*param`` and ``/__echo/*param`` for every method:

* ``/__debug/...``: the request is logged at DEBUG (method, URI, headers, body) and answered
  ``200 {"message":"pong"}``;
* ``/__echo/...``: ``200`` with the request as KrakenD describes it: ``req_uri``, ``req_uri_details`` (``user``,
  ``host``, ``path``, ``query``, ``fragment``), ``req_method``, ``req_querystring`` and ``req_headers`` (maps of
  lists; Host is not a header, as in Go), ``req_body``. JSON as Go's ``encoding/json`` writes it (sorted keys).

Both are development aids: they show every request header (cookies, Authorization) to whoever calls them.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qs

import msgspec

from hanzo_edge.gateway.encodings import go_json
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.middlewares.base import BuildContext, register

__all__ = ["KrakendDebugEchoConfig"]

log = logging.getLogger("hanzo_edge.gateway")

_JSON = b"application/json; charset=utf-8"
_PONG = b'{"message":"pong"}'
_MAX_BODY = 1024 * 1024


class KrakendDebugEchoConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Which of the two handlers answer."""

    debug: bool = False
    echo: bool = False


def _canonical(name: str) -> str:
    # Go's textproto.CanonicalMIMEHeaderKey for the usual token names.
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def _headers(req: Request) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in req.headers:
        if name.lower() == "host":
            continue
        out.setdefault(_canonical(name), []).append(value)
    return out


@register("krakendDebugEcho", KrakendDebugEchoConfig)
class KrakendDebugEcho:
    """The middleware (see the module docstring)."""

    __slots__ = ("config", "next")

    def __init__(self, next: Handler, config: KrakendDebugEchoConfig, *, name: str, ctx: BuildContext) -> None:
        self.next = next
        self.config = config

    async def __call__(self, req: Request) -> Response:
        path = req.path
        if self.config.debug and path.startswith("/__debug/"):
            body = req.body if isinstance(req.body, bytes) else await req.body.read(_MAX_BODY)
            log.debug("debug endpoint: %s %s headers=%s body=%r", req.method, req.url_path, _headers(req), body[:4096])
            return Response(200, Headers([(b"Content-Type", _JSON)]), _PONG)
        if self.config.echo and path.startswith("/__echo/"):
            body = req.body if isinstance(req.body, bytes) else await req.body.read(_MAX_BODY)
            echo = {
                "req_uri": req.url_path,
                "req_uri_details": {"user": "", "host": "", "path": path, "query": req.query, "fragment": ""},
                "req_method": req.method,
                "req_querystring": parse_qs(req.query, keep_blank_values=True),
                "req_body": body.decode("utf-8", "replace"),
                "req_headers": _headers(req),
            }
            return Response(200, Headers([(b"Content-Type", _JSON)]), go_json(echo))
        return await self.next(req)
