"""``grpcWeb``: gRPC-Web (browsers) to gRPC (backends), as Traefik's wrapper of improbable-eng's ``grpcweb``.

A ``POST`` whose ``Content-Type`` starts with ``application/grpc-web`` is translated:

* request: ``application/grpc-web[+proto]`` becomes ``application/grpc[+proto]``, ``application/grpc-web-text``
  bodies are base64-decoded as they stream, ``Content-Length`` is dropped (the body's framing is the backend
  connection's business) and ``te: trailers`` is sent (gRPC servers built on gRPC's C core refuse a call without it;
  Go's gRPC server does not care);
* response: its headers go back with the content type mapped the other way and
  ``Access-Control-Expose-Headers`` listing them plus ``grpc-status, grpc-message``; the body streams through as it
  arrives (base64-encoded chunk by chunk for ``-text``), and the response trailers (``grpc-status``,
  ``grpc-message``...), lower-case and sorted as Go writes a header block, end the body as one more length-prefixed
  frame whose flag byte is ``0x80``. Names already sent as headers (a trailers-only answer) are not repeated.

CORS as ``rs/cors`` with grpcweb's options: ``allowOrigins`` (``*`` matches any origin) decides the origin; the
allowed methods are rs/cors' defaults (GET, POST, HEAD); any request header is allowed; credentials are allowed; a
preflight's answer is cached 600 s. A preflight (``OPTIONS`` asking for ``x-grpc-web`` in
``Access-Control-Request-Headers`` and naming ``Access-Control-Request-Method``) is answered ``204`` here, with the
allow headers only when origin and method are allowed. A gRPC-Web request from an origin that is not allowed is
still translated and proxied, without CORS headers (the browser withholds the answer), as rs/cors does. Everything
else passes through untouched.
"""

from __future__ import annotations

import base64
import binascii
import struct

from hanzo_edge.config.middlewares import GrpcWeb as GrpcWebConfig
from hanzo_edge.http.body import BodyError, BodyRelay, StreamBody
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.middlewares.base import BuildContext, register

__all__ = ["GrpcWeb", "trailer_frame"]

_GRPC_WEB = "application/grpc-web"
_GRPC_WEB_TEXT = "application/grpc-web-text"
_GRPC = "application/grpc"
_ALLOWED_METHODS = frozenset({"GET", "POST", "HEAD"})
_MAX_AGE = b"600"
_PREFLIGHT_VARY = b"Origin, Access-Control-Request-Method, Access-Control-Request-Headers"


def trailer_frame(trailers: list[tuple[bytes, bytes]], skip: frozenset[bytes] = frozenset()) -> bytes:
    """Return the gRPC-Web trailer frame: ``0x80``, the length, then ``name: value\\r\\n`` lines (lower-case names,
    sorted as Go's ``http.Header.Write`` sorts them), leaving out ``trailer`` and the names in ``skip``."""
    lines = sorted(
        (name.lower(), value) for name, value in trailers if name.lower() not in skip and name.lower() != b"trailer"
    )
    block = b"".join(b"%s: %s\r\n" % (name, value) for name, value in lines)
    return struct.pack(">BI", 0x80, len(block)) + block


def _canonical(name: bytes) -> str:
    """Go's ``http.CanonicalHeaderKey`` (``grpc-status`` → ``Grpc-Status``)."""
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.decode("latin-1").split("-"))


class _Base64Decoded(BodyRelay):
    """A ``grpc-web-text`` request body, base64-decoded as it streams (a partial quantum waits for the next chunk;
    padded segments may follow one another, as clients that flush send them)."""

    __slots__ = ("_rest",)

    def __init__(self, inner: StreamBody) -> None:
        self._rest = b""
        super().__init__(inner, StreamBody(None, None, inner.high_water))

    def write(self, chunk: bytes) -> None:
        data = self._rest + chunk.translate(None, b"\r\n")
        cut = len(data) - len(data) % 4
        self._rest = data[cut:]
        if not cut:
            return
        try:
            self.body.feed(_b64decode(data[:cut]))
        except (binascii.Error, ValueError):
            self.inner.discard()
            self.body.feed_error(BodyError("malformed grpc-web-text request body"))

    def write_eof(self) -> None:
        if self._rest:
            self.body.feed_error(BodyError("truncated grpc-web-text request body"))
            return
        self.body.feed_eof()


def _b64decode(data: bytes) -> bytes:
    if b"=" not in data[:-2]:
        return base64.b64decode(data, validate=True)
    # Several padded segments in a row: decode each 4-character quantum on its own.
    return b"".join(base64.b64decode(data[i : i + 4], validate=True) for i in range(0, len(data), 4))


class _GrpcWebBody(BodyRelay):
    """The backend's gRPC response body as gRPC-Web: the messages as they come, then the trailer frame."""

    __slots__ = ("_sent_headers", "_text")

    def __init__(self, inner: StreamBody, text: bool, sent_headers: frozenset[bytes]) -> None:
        self._text = text
        self._sent_headers = sent_headers
        super().__init__(inner, StreamBody(None, None, inner.high_water))

    def write(self, chunk: bytes) -> None:
        self.body.feed(base64.b64encode(chunk) if self._text else chunk)

    def write_eof(self) -> None:
        frame = trailer_frame(self.inner.trailers or [], self._sent_headers)
        self.body.feed(base64.b64encode(frame) if self._text else frame)
        self.body.feed_eof()


class GrpcWeb:
    """Translates gRPC-Web requests to gRPC and their answers back; answers gRPC-Web CORS preflights."""

    __slots__ = ("allow_all", "name", "next", "origins")

    def __init__(self, next: Handler, allow_origins: tuple[str, ...], name: str) -> None:
        self.next = next
        self.name = name
        self.allow_all = "*" in allow_origins
        self.origins = frozenset(allow_origins)

    def _origin_allowed(self, origin: str) -> bool:
        return self.allow_all or origin in self.origins

    async def __call__(self, req: Request) -> Response:
        method = req.method
        headers = req.headers
        content_type = headers.get("Content-Type") or ""
        if method == "POST" and content_type.startswith(_GRPC_WEB):
            return await self._translate(req, content_type)
        if (
            method == "OPTIONS"
            and "x-grpc-web" in (headers.get("Access-Control-Request-Headers") or "").lower()
            and headers.get("Access-Control-Request-Method") is not None
        ):
            return self._preflight(req)
        return await self.next(req)

    def _preflight(self, req: Request) -> Response:
        """rs/cors' ``handlePreflight``: always ``Vary``; the allow headers only for an allowed origin and method."""
        out = Headers([(b"Vary", _PREFLIGHT_VARY)])
        origin = req.headers.get("Origin") or ""
        requested = (req.headers.get("Access-Control-Request-Method") or "").upper()
        if origin and self._origin_allowed(origin) and requested in _ALLOWED_METHODS:
            out.add("Access-Control-Allow-Origin", origin)
            out.add("Access-Control-Allow-Methods", requested)
            asked = req.headers.get("Access-Control-Request-Headers") or ""
            if asked:
                out.add("Access-Control-Allow-Headers", asked)
            out.raw.append((b"Access-Control-Allow-Credentials", b"true"))
            out.raw.append((b"Access-Control-Max-Age", _MAX_AGE))
        return Response(204, out)

    async def _translate(self, req: Request, content_type: str) -> Response:
        text = content_type.startswith(_GRPC_WEB_TEXT)
        incoming = _GRPC_WEB_TEXT if text else _GRPC_WEB
        headers = req.headers
        headers.set("Content-Type", content_type.replace(incoming, _GRPC, 1))
        headers.remove("Content-Length")
        headers.set("Te", "trailers")
        body = req.body
        if isinstance(body, bytes):
            if text:
                try:
                    body = _b64decode(body.translate(None, b"\r\n"))
                except (binascii.Error, ValueError):
                    return Response.text(400, "malformed grpc-web-text request body\n")
            req.body = body
        else:
            body.length = None
            req.body = _Base64Decoded(body).body if text else body
        origin = headers.get("Origin") or ""
        response = await self.next(req)
        return self._web_response(response, text, origin)

    def _web_response(self, response: Response, text: bool, origin: str) -> Response:
        outgoing = _GRPC_WEB_TEXT if text else _GRPC_WEB
        kept: list[tuple[bytes, bytes]] = []
        for name, value in response.headers.raw:
            lname = name.lower()
            if lname in (b"trailer", b"content-length"):
                continue
            if lname == b"content-type":
                value = value.replace(_GRPC.encode(), outgoing.encode(), 1)
            kept.append((name, value))
        kept.append((b"Vary", b"Origin"))
        if origin and self._origin_allowed(origin):
            kept.append((b"Access-Control-Allow-Origin", origin.encode("latin-1")))
            kept.append((b"Access-Control-Allow-Credentials", b"true"))
        names = sorted({_canonical(name) for name, _ in kept})
        expose = ", ".join([*names, "grpc-status", "grpc-message"])
        kept.append((b"Access-Control-Expose-Headers", expose.encode("latin-1")))
        sent = frozenset(name.lower() for name, _ in kept)
        out = Response(response.status, Headers(kept), reason=response.reason)
        out.has_date = response.has_date
        body = response.body
        if isinstance(body, bytes):
            frame = trailer_frame([], sent)
            out.body = base64.b64encode(body) + base64.b64encode(frame) if text else body + frame
        else:
            out.body = _GrpcWebBody(body, text, sent).body
        return out


@register("grpcWeb")
def grpc_web(next: Handler, config: GrpcWebConfig, *, name: str, ctx: BuildContext) -> Handler:
    """Return the ``grpcWeb`` middleware."""
    return GrpcWeb(next, tuple(config.allow_origins), name)
