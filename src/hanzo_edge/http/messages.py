"""Per-request objects: :class:`Request`, :class:`Response` and the :data:`Handler` contract.

They are mutable and slotted because one of each is made per request; immutability is for configuration.
A handler (router chain, middleware, service) is ``async (Request) -> Response``. Middlewares are built once per
config generation and do only per-request work in their call.

What other layers hang on a request or response (the matched route, the trace, an upgrade tunnel) is typed by the
protocols here, so ``http`` states what it needs of them without importing ``routing`` or ``observability``.
What middlewares tell the proxy and the observers (the authenticated user, retries, no X-Forwarded-For) are typed
slots rather than keys of a dict, so a reader cannot misspell them and a request that sets none allocates nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeAlias
from urllib.parse import parse_qs

from hanzo_edge.http.body import StreamBody
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.tls_info import TLSInfo

__all__ = ["Handler", "MatchedRoute", "Request", "RequestTrace", "Response", "Tunnel"]


class MatchedRoute(Protocol):
    """What the data plane and the observers read of the router that matched (``routing.table.Route``)."""

    @property
    def name(self) -> str: ...
    @property
    def service(self) -> str: ...
    @property
    def rule(self) -> str: ...
    @property
    def observability(self) -> tuple[bool | None, bool | None, bool | None] | None:
        """The router's ``(accessLogs, metrics, tracing)`` overrides; None inherits the entrypoint's."""

    @property
    def body_limit(self) -> int | None:
        """The request-body limit set by the router's ``buffering`` middleware; None keeps the entrypoint's."""


class RequestTrace(Protocol):
    """The spans of one request while tracing is on (``observability.tracing.RequestTrace``)."""

    @property
    def sampled(self) -> bool: ...
    @property
    def trace_hex(self) -> str:
        """The trace id as 32 hex digits (the access log's ``TraceId``)."""

    @property
    def span_id(self) -> str:
        """The entrypoint span's id as 16 hex digits (the access log's ``SpanId``)."""

    def open_service(self, service: str) -> None:
        """Open the ``Service`` span (the router's middlewares passed the request on)."""

    def start_client(self, req: Request, server_url: str) -> bytes:
        """Open the client span of a backend call; return the ``traceparent`` to send."""

    def end_client(self, status: int, error: str = "") -> None:
        """End the current client span."""

    def finish(self, status: int, aborted: bool) -> None:
        """End every open span with the status the client got."""


class _Reading(Protocol):
    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...


class Tunnel(Protocol):
    """The byte tunnel an upstream ``101 Switching Protocols`` becomes (``http.upstream``): both sockets joined."""

    @property
    def conn(self) -> _Reading:
        """The upstream side, paused and resumed as the client socket's buffer fills and drains."""

    def attach(self, downstream: asyncio.Transport) -> None:
        """Join the client socket; from then on bytes are copied both ways."""

    def from_upstream(self, data: bytes) -> None: ...
    def to_upstream(self, data: bytes) -> None: ...
    def upstream_closed(self) -> None: ...
    def downstream_closed(self) -> None: ...


class Request:
    """One downstream request as the router, middlewares and services see it.

    ``path`` and ``query`` are the raw (still percent-encoded) parts of the request-target and are what is sent
    upstream; middlewares that rewrite the path change ``path``. ``routing_path`` is the path the rule matchers see
    (unreserved escapes decoded, see ``rules``). ``host`` is the canonical host: lower-case, without port, IPv6
    brackets or a trailing dot.

    Middlewares leave word for later stages in typed slots: ``client_username`` (basicAuth, digestAuth, forwardAuth's
    ``headerField``; the access log's ``ClientUsername``), ``retry_attempts`` (retry; metrics and the access log),
    ``omit_forwarded_for`` (headers setting ``X-Forwarded-For: ""``: the proxy then sends none) and ``answer`` (the
    entrypoint decided the status before routing, e.g. Traefik's 400 for an encoded character it refuses).
    """

    __slots__ = (
        "_query_params",
        "answer",
        "body",
        "client_ip",
        "client_port",
        "client_username",
        "entry_point",
        "headers",
        "host",
        "keep_alive",
        "method",
        "omit_forwarded_for",
        "origin_started",
        "path",
        "query",
        "retry_attempts",
        "route",
        "routing_path",
        "scheme",
        "server_url",
        "started",
        "target",
        "task_free",
        "tls",
        "tls_info",
        "tls_options",
        "trace",
        "upgrade",
        "version",
    )

    def __init__(
        self,
        method: str,
        target: str,
        headers: Headers,
        *,
        path: str | None = None,
        query: str = "",
        version: str = "1.1",
        host: str = "",
        client_ip: str = "127.0.0.1",
        client_port: int = 0,
        scheme: str = "http",
        body: bytes | StreamBody = b"",
        entry_point: str = "",
        routing_path: str | None = None,
        keep_alive: bool = True,
        upgrade: bool = False,
    ) -> None:
        self.method = method
        self.target = target
        self.headers = headers
        self.path = target if path is None else path
        self.query = query
        self.version = version
        self.host = host
        self.client_ip = client_ip
        self.client_port = client_port
        self.scheme = scheme
        self.tls = scheme == "https"
        self.tls_info: TLSInfo | None = None  # the connection's TLS facts (set by the protocol on a TLS connection)
        self.tls_options = ""  # the TLS options its connection's handshake used ("" on a plain connection)
        self.body = body
        self.entry_point = entry_point
        self.routing_path = self.path if routing_path is None else routing_path
        self.keep_alive = keep_alive
        self.upgrade = upgrade
        self._query_params: dict[str, list[str]] | None = None
        self.route: MatchedRoute | None = None  # the routing table's Route that matched (set by the lookup)
        # The matched route's chain is served without an asyncio Task (``routing.table`` sets it; see
        # ``HttpProtocol``'s eager start): False keeps the Task, which any chain that is not known to be safe needs.
        self.task_free = False
        self.server_url = ""  # the backend server that answered (set by the proxy)
        self.started = 0.0  # time.perf_counter() when the request head was complete
        self.origin_started = 0.0  # time.perf_counter() when the proxy last called a backend server (0: none)
        self.trace: RequestTrace | None = None  # the request's spans when tracing is enabled
        self.client_username = ""  # "" until an auth middleware names the user
        self.retry_attempts: int | None = None  # retries the retry middleware made (None: it did not run)
        self.omit_forwarded_for = False  # a headers middleware emptied X-Forwarded-For: send none upstream
        self.answer = 0  # a status the entrypoint answers without routing (0: route the request)

    def header_values(self, name: str) -> list[str]:
        """Return every value of header ``name`` (case-insensitive), in order."""
        return self.headers.get_all(name)

    def query_params(self) -> dict[str, list[str]]:
        """Return the decoded query parameters (blank values kept), parsed once per request."""
        params = self._query_params
        if params is None:
            params = parse_qs(self.query, keep_blank_values=True) if self.query else {}
            self._query_params = params
        return params

    @property
    def url_path(self) -> str:
        """The request-target as it would be forwarded: ``path`` plus ``?query`` when present."""
        return f"{self.path}?{self.query}" if self.query else self.path

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.host}{self.url_path} from {self.client_ip}>"


class Response:
    """A response on its way back downstream.

    ``body`` is ``bytes`` when fully known or a :class:`StreamBody` streamed from upstream. ``tunnel`` is set on a
    ``101 Switching Protocols`` from upstream: the upstream connection that becomes a raw byte tunnel.
    """

    __slots__ = ("body", "has_date", "headers", "reason", "status", "tunnel")

    def __init__(
        self,
        status: int,
        headers: Headers | None = None,
        body: bytes | StreamBody = b"",
        *,
        reason: str | None = None,
    ) -> None:
        self.status = status
        self.headers = Headers() if headers is None else headers
        self.body = body
        self.reason = reason
        self.tunnel: Tunnel | None = None
        self.has_date = False  # set by the upstream parser so the writer need not scan for Date

    @classmethod
    def text(cls, status: int, text: str, content_type: str = "text/plain; charset=utf-8") -> Response:
        """Return a response with a small text body, as Go's ``http.Error`` writes it."""
        headers = Headers([(b"Content-Type", content_type.encode("latin-1")), (b"X-Content-Type-Options", b"nosniff")])
        return cls(status, headers, text.encode("utf-8"))

    def __repr__(self) -> str:
        return f"<Response {self.status}>"


Handler: TypeAlias = Callable[[Request], Awaitable[Response]]
"""The data-plane contract: a router's chain, a middleware, or a service."""
