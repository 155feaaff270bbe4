"""Forwarding one request to one backend server: Traefik's reverse-proxy semantics on our pools.

What goes upstream (``pkg/proxy/httputil`` in Traefik, Go's ``ReverseProxy``):

* hop-by-hop headers are removed, and so is every header the client named in ``Connection`` (including those
  ``forwardedHeaders.connection`` kept visible to the middlewares); an upgrade keeps ``Connection: Upgrade`` and its
  ``Upgrade`` header, and ``Upgrade`` without ``Connection: upgrade`` is no upgrade and goes nowhere;
* ``Host`` is the client's (``passHostHeader: true``, the default) or the server's;
* the client IP is appended to ``X-Forwarded-For`` (the entrypoint already dropped untrusted ``X-Forwarded-*``);
* the server URL's path is ignored unless ``preservePath`` is set;
* the body keeps its framing: a known length is sent with ``Content-Length``, an unknown one chunked.

A failure before the response head becomes an :class:`~hanzo_edge.http.errors.UpstreamError`; a stale keep-alive
connection that fails before answering is retried once on a fresh one when the body can be replayed.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Coroutine
from time import perf_counter
from typing import Any, Final
from urllib.parse import urlsplit

from hanzo_edge.http.body import StreamBody
from hanzo_edge.http.errors import ClientClosed, UpstreamError, UpstreamTimeout
from hanzo_edge.http.forwarded import MANAGED_HEADERS
from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.http.pool import ConnectionPool, PoolRegistry, TransportOptions
from hanzo_edge.http.tracecontext import child_traceparent
from hanzo_edge.http.upstream import HOP_BY_HOP, UpstreamConnection, connection_tokens

__all__ = ["STRIPPED_UPSTREAM", "ServerTarget", "build_request_head", "replayable", "server_target", "split_server_url"]

# Headers the proxy rewrites itself: Expect is answered here; traceparent gets a new span id. HTTP2-Settings only
# means something with an h2c upgrade of this hop (RFC 7540 §3.2.1), which a backend behind us never takes part in.
_STRIP = HOP_BY_HOP | {b"host", b"content-length", b"x-forwarded-for", b"expect", b"traceparent", b"http2-settings"}
STRIPPED_UPSTREAM = _STRIP
"""Request headers the proxy never forwards as they came (the HTTP/2 upstream path shares the list)."""
_BODY_METHODS: Final = frozenset({"POST", "PUT", "PATCH"})

# What the upstream head does with a request field, by its name as the client spelled it (one dict probe per field:
# no lower-case copy, no set probe with a fresh hash). 0 forwards it; the others are names in _STRIP.
# Final: native constants in the compiled build (a plain module global is a dict lookup at every use).
_FORWARD: Final = 0
_DROP: Final = 1
_HOST: Final = 2
_XFF: Final = 3
_CONNECTION: Final = 4
_UPGRADE: Final = 5
_TE: Final = 6
_TRACEPARENT: Final = 7
_STRIP_KINDS: Final = {
    b"host": _HOST,
    b"x-forwarded-for": _XFF,
    b"connection": _CONNECTION,
    b"upgrade": _UPGRADE,
    b"te": _TE,
    b"traceparent": _TRACEPARENT,
}
_NAME_KINDS: Final[dict[bytes, int]] = {}
"""Raw field name → kind; names come from clients, so this is bounded (cleared when full, like the host cache)."""


def _name_kind(name: bytes) -> int:
    lname = name.lower()
    kind = _STRIP_KINDS.get(lname, _DROP) if lname in _STRIP else _FORWARD
    if len(_NAME_KINDS) >= 4096:
        _NAME_KINDS.clear()
    _NAME_KINDS[name] = kind
    return kind


def server_target(
    url: str,
    pools: PoolRegistry,
    options: TransportOptions,
    *,
    pass_host_header: bool = True,
    preserve_path: bool = False,
) -> Handler:
    """Return the handler that proxies to server ``url``: HTTP/2 for ``h2c://`` and for ``https://`` unless the
    transport sets ``disableHTTP2`` (Traefik's smartRoundTripper), HTTP/1.1 otherwise. Raises ValueError for an
    unusable URL."""
    scheme = url.partition(":")[0].lower()
    if scheme == "h2c" or (scheme == "https" and not options.disable_http2):
        # Imported here: a process without HTTP/2 backends never loads the h2 library.
        from hanzo_edge.http.h2.target import H2ServerTarget

        return H2ServerTarget(url, pools, options, pass_host_header=pass_host_header, preserve_path=preserve_path)
    return ServerTarget(url, pools, options, pass_host_header=pass_host_header, preserve_path=preserve_path)


class ServerTarget:
    """A backend server URL bound to its connection pool: ``await target(request)`` proxies the request."""

    __slots__ = ("host_header", "pass_host_header", "path_prefix", "pool", "response_header_timeout", "url")

    def __init__(
        self,
        url: str,
        pools: PoolRegistry,
        options: TransportOptions,
        *,
        pass_host_header: bool = True,
        preserve_path: bool = False,
    ) -> None:
        scheme, hostname, port, netloc, url_path = _split_server_url(url)
        self.url = url
        self.pool: ConnectionPool = pools.get(options, scheme, hostname, port)
        self.pass_host_header = pass_host_header
        self.host_header = netloc.encode("latin-1")
        path = url_path.rstrip("/") if preserve_path else ""
        self.path_prefix = path
        self.response_header_timeout = options.response_header_timeout

    def __call__(self, req: Request) -> Coroutine[Any, Any, Response]:
        """Proxy ``req`` to this server and return its response head (the body streams behind it).

        Raises :class:`~hanzo_edge.http.errors.UpstreamError` when no response head could be had. Not a coroutine
        function itself: it builds the head and returns :meth:`exchange`'s coroutine, one frame less per request.
        """
        req.server_url = self.url
        req.origin_started = perf_counter()
        trace = req.trace
        # With tracing on, the backend's parent is our client span; otherwise only a fresh span id is forwarded.
        traceparent = None if trace is None else trace.start_client(req, self.url)
        head, chunked = build_request_head(req, self.host_header, self.pass_host_header, self.path_prefix, traceparent)
        return self.exchange(req, head, chunked, req.method == "HEAD")

    async def exchange(
        self, req: Request, head: bytes, chunked: bool, head_request: bool, deadline: float = 0.0
    ) -> Response:
        """Send ``head`` (built for this server: :meth:`__call__`'s, or the gateway's KrakenD backend request) with
        ``req``'s body; return the response head. ``deadline``, a ``perf_counter()`` instant (0: none), bounds the
        dial and the wait for the head together, as KrakenD's endpoint ``timeout`` does: no second timeout context
        runs per request, the connection's own response-header timer takes the time left."""
        trace = req.trace
        body = req.body
        pool = self.pool
        for attempt in (0, 1):
            wait = self.response_header_timeout
            conn = pool.acquire_idle()
            if deadline:
                if conn is None:
                    conn = await _acquire_by(pool, deadline)
                left = deadline - perf_counter()
                if left <= 0:
                    pool.on_release(conn, True)  # nothing was sent on it: it stays idle for the next request
                    raise UpstreamTimeout("timeout awaiting response headers")
                wait = min(wait, left) if wait > 0 else left
            elif conn is None:
                conn = await pool.acquire()
            future = conn.send(head, body, chunked=chunked, head_request=head_request, response_header_timeout=wait)
            try:
                response = await future
            except UpstreamError as exc:
                stale = attempt == 0 and conn.reused and not conn.got_response_bytes and _replayable(body)
                # A stale keep-alive connection is retried once; a deadline that passed is no stale connection.
                if stale and not (deadline and isinstance(exc, UpstreamTimeout)):
                    continue
                if trace is not None:
                    trace.end_client(exc.status, str(exc))
                raise
            except asyncio.CancelledError:
                conn.close()
                if trace is not None:
                    trace.end_client(499, "client disconnected")
                raise ClientClosed("client disconnected") from None
            if trace is not None:
                trace.end_client(response.status)
            return response
        raise UpstreamError("unreachable")  # pragma: no cover - the loop always returns or raises

    def __repr__(self) -> str:
        return f"<ServerTarget {self.url}>"


async def _acquire_by(pool: ConnectionPool, deadline: float) -> UpstreamConnection:
    """A connection from ``pool``, dialled before ``deadline`` (a ``perf_counter()`` instant) or UpstreamTimeout."""
    try:
        async with asyncio.timeout(max(deadline - perf_counter(), 0.0)):
            return await pool.acquire()
    except TimeoutError:
        raise UpstreamTimeout("timeout awaiting response headers") from None


_PLAIN_URL = re.compile(r"(https?)://([A-Za-z0-9.\-]+)(?::(\d{1,5}))?(/[^?#]*)?", re.ASCII)


def _split_server_url(url: str) -> tuple[str, str, int, str, str]:
    """Return ``(scheme, host, port, netloc without userinfo, path)`` of a server URL. Raises ValueError if unusable.

    Ordinary ``http://host:port/path`` URLs take a regular expression (10,000 servers are parsed per reload);
    anything else (IPv6 literals, userinfo, upper-case schemes) goes through ``urlsplit``.
    """
    plain = _PLAIN_URL.fullmatch(url)
    if plain is not None:
        scheme, host, port_text, path = plain.groups()
        port = int(port_text) if port_text else (443 if scheme == "https" else 80)
        if port <= 65535:
            netloc = f"{host}:{port_text}" if port_text else host
            return scheme, host.lower(), port, netloc, path or ""
    parts = urlsplit(url)
    scheme = (parts.scheme or "http").lower()
    if scheme not in ("http", "https", "h2c"):
        raise ValueError(f"unsupported server URL scheme {scheme!r} in {url!r}")
    if not parts.hostname:
        raise ValueError(f"server URL {url!r} has no host")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError as exc:
        raise ValueError(f"server URL {url!r}: {exc}") from None
    return scheme, parts.hostname, port, parts.netloc.rsplit("@", 1)[-1], parts.path


def _replayable(body: bytes | StreamBody) -> bool:
    # bytes can be sent again; a stream can only if nothing of it was consumed yet.
    return isinstance(body, bytes) or (body.received == 0 and not body.consumed)


split_server_url = _split_server_url
replayable = _replayable


def _without(flat: list[bytes], tokens: set[bytes]) -> list[bytes]:
    out: list[bytes] = []
    for i in range(0, len(flat), 4):
        if flat[i].lower() not in tokens:
            out += flat[i : i + 4]
    return out


_HOST_AT: Final = 3  # parts[_HOST_AT] is the Host value: the request line, then b"Host", b": ", host, b"\r\n"
_FIELDS_AT: Final = 5  # the forwarded fields start here, four parts each (name, b": ", value, b"\r\n")


def build_request_head(
    req: Request, server_host: bytes, pass_host_header: bool, path_prefix: str, traceparent: bytes | None = None
) -> tuple[bytes, bool]:
    """Return the upstream request head for ``req`` and whether its body is sent chunked.

    ``traceparent`` (tracing on) replaces the client's; without it a valid incoming one is forwarded with a new span id.
    """
    path = req.path or "/"  # stripPrefix may leave the empty path; Go sends it as "/"
    if path_prefix:
        path = path_prefix + path if path.startswith("/") else f"{path_prefix}/{path}"
    target = f"{path}?{req.query}" if req.query else path
    # The Host field goes first; its value is known only after the scan (the client's, with passHostHeader).
    parts: list[bytes] = [f"{req.method} {target} HTTP/1.1\r\n".encode("latin-1"), b"Host", b": ", b"", b"\r\n"]
    host = server_host
    prior_xff: list[bytes] | None = None
    tokens: set[bytes] | None = None
    upgrade_value: bytes | None = None
    keep_te = False
    kinds = _NAME_KINDS
    for name, value in req.headers.raw:
        kind = kinds.get(name)
        if kind is None:
            kind = _name_kind(name)
        if kind:
            if kind == _HOST:
                if pass_host_header:
                    host = value
            elif kind == _XFF:
                if prior_xff is None:
                    prior_xff = [value]
                else:
                    prior_xff.append(value)
            elif kind == _CONNECTION:
                named = connection_tokens(value) - MANAGED_HEADERS - HOP_BY_HOP
                if named:
                    # Headers named in any Connection header are hop-by-hop too (RFC 9110 §7.6.1).
                    tokens = named if tokens is None else tokens | named
                    parts = [*parts[:_FIELDS_AT], *_without(parts[_FIELDS_AT:], tokens)]
            elif kind == _UPGRADE:
                upgrade_value = value
            elif kind == _TE:
                if b"trailers" in value.lower():
                    keep_te = True  # Go's ReverseProxy keeps "TE: trailers" (gRPC needs it)
            elif kind == _TRACEPARENT and traceparent is None:
                child = child_traceparent(value)
                if child is not None:
                    parts += (b"traceparent", b": ", child, b"\r\n")
            continue
        if tokens is not None and name.lower() in tokens:
            continue
        parts += (name, b": ", value, b"\r\n")
    parts[_HOST_AT] = host
    if traceparent is not None:
        parts += (b"traceparent: ", traceparent, b"\r\n")
    if req.omit_forwarded_for:
        pass  # a headers middleware set X-Forwarded-For to "": Traefik then sends none
    elif prior_xff is not None:
        parts += (b"X-Forwarded-For: ", b", ".join(prior_xff), b", ", req.client_ip.encode("latin-1"), b"\r\n")
    else:
        parts += (b"X-Forwarded-For: ", req.client_ip.encode("latin-1"), b"\r\n")
    if keep_te:
        parts.append(b"Te: trailers\r\n")
    if req.upgrade and upgrade_value is not None:
        parts += (b"Connection: Upgrade\r\nUpgrade: ", upgrade_value, b"\r\n")
    body = req.body
    chunked = False
    if isinstance(body, bytes):
        if body or req.method in _BODY_METHODS:
            parts.append(b"Content-Length: %d\r\n" % len(body))
    elif body.length is not None:
        parts.append(b"Content-Length: %d\r\n" % body.length)
    else:
        parts.append(b"Transfer-Encoding: chunked\r\n")
        chunked = True
    parts.append(b"\r\n")
    return b"".join(parts), chunked
