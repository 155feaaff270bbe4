"""Forwarding to a backend over HTTP/2: an ``h2c://`` server, or an ``https://`` one whose ALPN picks h2.

The same reverse-proxy semantics as :mod:`hanzo_edge.http.proxy` (hop-by-hop headers and those named in
``Connection`` removed, ``X-Forwarded-For`` appended, ``passHostHeader``, ``preservePath``, ``traceparent``), written
as an HTTP/2 header list: ``:method``, ``:scheme``, ``:authority`` (the ``Host`` that would have been sent), ``:path``
first, lower-case names, no connection-specific field, ``te: trailers`` kept (gRPC needs it), ``content-length``
when the body's length is known. Request trailers the downstream collected on the body are sent as trailing HEADERS.

As Traefik's ``smartRoundTripper``: a request that asks for a protocol upgrade (WebSocket) goes over HTTP/1.1 to the
same host and port, and so does everything for an ``https`` origin whose ALPN did not pick h2.
Errors map as on HTTP/1.1 (dial failure 502, dial or response-header timeout 504); a stream the backend refused or
never processed (GOAWAY) is sent once more on a fresh stream when its body can be replayed.
"""

from __future__ import annotations

import asyncio
from time import perf_counter

from hanzo_edge.http.errors import ClientClosed, UpstreamError
from hanzo_edge.http.forwarded import MANAGED_HEADERS
from hanzo_edge.http.h2.client import StreamRefused
from hanzo_edge.http.h2.pool import H2Pool
from hanzo_edge.http.messages import Request, Response
from hanzo_edge.http.pool import PoolRegistry, TransportOptions
from hanzo_edge.http.proxy import STRIPPED_UPSTREAM, ServerTarget, replayable, split_server_url
from hanzo_edge.http.tracecontext import child_traceparent
from hanzo_edge.http.upstream import HOP_BY_HOP, connection_tokens

__all__ = ["H2ServerTarget", "h2_request_headers"]

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class H2ServerTarget:
    """A backend server URL spoken to over HTTP/2: ``await target(request)`` proxies the request."""

    __slots__ = (
        "h1",
        "host_header",
        "pass_host_header",
        "path_prefix",
        "pool",
        "response_header_timeout",
        "scheme",
        "url",
    )

    def __init__(
        self,
        url: str,
        pools: PoolRegistry,
        options: TransportOptions,
        *,
        pass_host_header: bool = True,
        preserve_path: bool = False,
    ) -> None:
        scheme, hostname, port, netloc, url_path = split_server_url(url)
        self.url = url
        self.scheme = b"https" if scheme == "https" else b"http"
        self.pool: H2Pool = pools.get_h2(options, scheme, hostname, port)
        # Upgrades, and an https origin that turns out to speak HTTP/1.1, go through the HTTP/1.1 path.
        self.h1 = ServerTarget(url, pools, options, pass_host_header=pass_host_header, preserve_path=preserve_path)
        self.pass_host_header = pass_host_header
        self.host_header = netloc.encode("latin-1")
        self.path_prefix = url_path.rstrip("/") if preserve_path else ""
        self.response_header_timeout = options.response_header_timeout

    async def __call__(self, req: Request) -> Response:
        """Proxy ``req`` over HTTP/2 and return its response head (the body streams behind it).

        Raises :class:`~hanzo_edge.http.errors.UpstreamError` when no response head could be had.
        """
        pool = self.pool
        if req.upgrade or pool.http11:
            return await self.h1(req)
        conn = pool.ready()
        if conn is None:
            try:
                conn = await pool.acquire()
            except asyncio.CancelledError:
                raise ClientClosed("client disconnected") from None
            if conn is None:
                return await self.h1(req)
        req.server_url = self.url
        req.origin_started = perf_counter()
        trace = req.trace
        traceparent = None if trace is None else trace.start_client(req, self.url)
        headers = h2_request_headers(
            req, self.scheme, self.host_header, self.pass_host_header, self.path_prefix, traceparent
        )
        body = req.body
        head_request = req.method == "HEAD"
        for attempt in (0, 1):
            if attempt:
                conn = pool.ready() or await pool.acquire()
                if conn is None:
                    return await self.h1(req)
            stream = conn.request(
                headers, body, head_request=head_request, response_header_timeout=self.response_header_timeout
            )
            try:
                response = await stream.future
            except StreamRefused:
                if attempt == 0 and replayable(body):
                    continue
                if trace is not None:
                    trace.end_client(502, "stream refused")
                raise
            except UpstreamError as exc:
                if trace is not None:
                    trace.end_client(exc.status, str(exc))
                raise
            except asyncio.CancelledError:
                stream.cancel()  # RST_STREAM(CANCEL) for this stream only; the connection serves the others
                if trace is not None:
                    trace.end_client(499, "client disconnected")
                raise ClientClosed("client disconnected") from None
            if trace is not None:
                trace.end_client(response.status)
            return response
        raise UpstreamError("unreachable")  # pragma: no cover - the loop always returns or raises

    def __repr__(self) -> str:
        return f"<H2ServerTarget {self.url}>"


def h2_request_headers(
    req: Request,
    scheme: bytes,
    server_host: bytes,
    pass_host_header: bool,
    path_prefix: str,
    traceparent: bytes | None = None,
) -> list[tuple[bytes, bytes]]:
    """Return the HTTP/2 header list for ``req`` (pseudo-headers first), as :func:`~hanzo_edge.http.proxy.
    build_request_head` writes the HTTP/1.1 head."""
    path = req.path or "/"
    if path_prefix:
        path = path_prefix + path if path.startswith("/") else f"{path_prefix}/{path}"
    target = f"{path}?{req.query}" if req.query else path
    authority = server_host
    fields: list[tuple[bytes, bytes]] = []
    prior_xff: list[bytes] = []
    tokens: set[bytes] | None = None
    keep_te = False
    for name, value in req.headers.raw:
        lname = name.lower()
        if lname[:1] == b":":
            continue  # pseudo-headers of an HTTP/2 client request are rebuilt below
        if lname in STRIPPED_UPSTREAM:
            if lname == b"host":
                if pass_host_header:
                    authority = value
            elif lname == b"x-forwarded-for":
                prior_xff.append(value)
            elif lname == b"connection":
                named = connection_tokens(value) - MANAGED_HEADERS - HOP_BY_HOP
                if named:
                    tokens = named if tokens is None else tokens | named
                    fields = [f for f in fields if f[0] not in tokens]
            elif lname == b"te" and b"trailers" in value.lower():
                keep_te = True
            elif lname == b"traceparent" and traceparent is None:
                child = child_traceparent(value)
                if child is not None:
                    fields.append((b"traceparent", child))
            continue
        if tokens is not None and lname in tokens:
            continue
        fields.append((lname, value))
    if traceparent is not None:
        fields.append((b"traceparent", traceparent))
    client = req.client_ip.encode("latin-1")
    if not req.omit_forwarded_for:
        xff = b", ".join([*prior_xff, client]) if prior_xff else client
        fields.append((b"x-forwarded-for", xff))
    if keep_te:
        fields.append((b"te", b"trailers"))
    body = req.body
    if isinstance(body, bytes):
        if body or req.method in _BODY_METHODS:
            fields.append((b"content-length", b"%d" % len(body)))
    elif body.length is not None:
        fields.append((b"content-length", b"%d" % body.length))
    return [
        (b":method", req.method.encode("latin-1")),
        (b":scheme", scheme),
        (b":authority", authority),
        (b":path", target.encode("latin-1")),
        *fields,
    ]
