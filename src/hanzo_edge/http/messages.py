"""Per-request objects: :class:`Request`, :class:`Response` and the :data:`Handler` contract.

They are mutable and slotted because one of each is made per request; immutability is for configuration.
A handler (router chain, middleware, service) is ``async (Request) -> Response``. Middlewares are built once per
config generation and do only per-request work in their call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias
from urllib.parse import parse_qs

from hanzo_edge.http.body import StreamBody
from hanzo_edge.http.headers import Headers

__all__ = ["Handler", "Request", "Response"]


class Request:
    """One downstream request as the router, middlewares and services see it.

    ``path`` and ``query`` are the raw (still percent-encoded) parts of the request-target and are what is sent
    upstream; middlewares that rewrite the path change ``path``. ``routing_path`` is the path the rule matchers see
    (unreserved escapes decoded, see ``rules``). ``host`` is the canonical host: lower-case, without port, IPv6
    brackets or a trailing dot.
    """

    __slots__ = (
        "_query_params",
        "body",
        "client_ip",
        "client_port",
        "ctx",
        "entry_point",
        "headers",
        "host",
        "keep_alive",
        "method",
        "origin_started",
        "path",
        "query",
        "route",
        "routing_path",
        "scheme",
        "server_url",
        "started",
        "target",
        "tls",
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
        self.body = body
        self.entry_point = entry_point
        self.routing_path = self.path if routing_path is None else routing_path
        self.keep_alive = keep_alive
        self.upgrade = upgrade
        self.ctx: dict[str, Any] | None = None
        self._query_params: dict[str, list[str]] | None = None
        self.route: Any = None  # the routing table's Route that matched (set by the lookup)
        self.server_url = ""  # the backend server that answered (set by the proxy)
        self.started = 0.0  # time.perf_counter() when the request head was complete
        self.origin_started = 0.0  # time.perf_counter() when the proxy last called a backend server (0: none)
        self.trace: Any = None  # the request's spans when tracing is enabled (observability.tracing.RequestTrace)

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
        self.tunnel: Any = None
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
