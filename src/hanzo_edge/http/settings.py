"""What the downstream protocol needs to know about its entrypoint, independent of the config layer.

``EntrypointSettings`` is immutable and built once from the static configuration; ``ConnectionContext`` is the live
state the connections of one listener share (routing lookup, drain flag, open connections, the deadline ticker).
The context knows its connections only as :class:`~hanzo_edge.http.connection.Connection`, whatever their protocol.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from hanzo_edge.http.forwarded import MANAGED_HEADERS, ForwardedHeaders
from hanzo_edge.http.h2.limits import H2Limits

if TYPE_CHECKING:
    from hanzo_edge.http.connection import Connection
    from hanzo_edge.http.messages import Handler, MatchedRoute, Request

__all__ = ["ConnectionContext", "EntrypointSettings", "RequestObserver"]

RequestObserver = Callable[["Request", int, int, float, bool], None]
"""``observer(req, status, response_bytes, duration_seconds, aborted)``: metrics, access log and tracing hooks."""


@dataclass(frozen=True, slots=True)
class EntrypointSettings:
    """Per-entrypoint protocol settings (Traefik's ``entryPoints.<name>`` transport and http options)."""

    name: str = "web"
    max_header_bytes: int = 16384
    read_timeout: float = 60.0
    write_timeout: float = 0.0
    idle_timeout: float = 180.0
    keep_alive_max_requests: int = 0
    keep_alive_max_time: float = 0.0
    sanitize_path: bool = True
    denied_escapes: tuple[str, ...] = ()
    encode_query_semicolons: bool = False
    tls: bool = False
    tls_options: str = ""
    """On a TLS connection: the name of the TLS options its handshake used (``default``, ``name@provider``)."""
    forwarded: ForwardedHeaders = field(default_factory=ForwardedHeaders)
    managed_headers: frozenset[bytes] = MANAGED_HEADERS
    max_request_body_bytes: int = 10485760
    """``entryPoints.<name>.http.maxRequestBodyBytes`` (Hanzo, HIP-68): 0 means no limit."""
    http2: H2Limits = field(default_factory=H2Limits)
    """HTTP/2 limits (``entryPoints.<name>.http2`` and the built-in attack bounds, ``http/h2/limits.py``)."""

    def body_limit_for(self, route: MatchedRoute | None) -> int:
        """Return the request-body limit for a request routed to ``route`` (0: none).

        A router whose middlewares include ``buffering`` carries its own ``body_limit`` (computed when the table is
        built); any other route, or no route at all, gets the entrypoint's limit. Every protocol calls this once
        the request is routed.
        """
        override = None if route is None else route.body_limit
        return self.max_request_body_bytes if override is None else override

    def tick_interval(self) -> float:
        """Return how often deadlines must be checked to honour the shortest timeout within ~20%."""
        timeouts = [t for t in (self.read_timeout, self.write_timeout, self.idle_timeout) if t > 0]
        if not timeouts:
            return 1.0
        return max(0.01, min(1.0, min(timeouts) / 5))


class ConnectionContext:
    """Shared state of one listener's connections."""

    __slots__ = (
        "_secure",
        "_ticker",
        "connections",
        "draining",
        "in_flight",
        "lookup",
        "loop",
        "observer",
        "settings",
    )

    def __init__(
        self,
        settings: EntrypointSettings,
        lookup: Callable[[Request], Handler],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.settings = settings
        self.lookup = lookup
        self.loop = loop
        self.connections: set[Connection] = set()
        self.draining = False
        self.in_flight = 0
        # Called once per finished request as observer(req, status, response_bytes, duration_seconds, aborted);
        # None (the default) keeps observability entirely off the hot path.
        self.observer: RequestObserver | None = None
        self._ticker: asyncio.TimerHandle | None = None
        self._secure: dict[str, EntrypointSettings] = {}

    def secure_settings(self, tls_options: str) -> EntrypointSettings:
        """The settings of a TLS connection of this entrypoint made with ``tls_options`` (one object per name)."""
        found = self._secure.get(tls_options)
        if found is None:
            found = self._secure[tls_options] = replace(self.settings, tls=True, tls_options=tls_options)
        return found

    def connection_opened(self, conn: Connection) -> None:
        """Track a new connection (and start the deadline ticker with the first one)."""
        self.connections.add(conn)
        if self._ticker is None:
            self._ticker = self.loop.call_later(self.settings.tick_interval(), self._tick)

    def connection_closed(self, conn: Connection) -> None:
        """Forget a closed connection."""
        self.connections.discard(conn)

    def _tick(self) -> None:
        now = self.loop.time()
        for conn in list(self.connections):
            conn.check_deadlines(now)
        if self.connections:
            self._ticker = self.loop.call_later(self.settings.tick_interval(), self._tick)
        else:
            self._ticker = None

    def close_idle(self) -> int:
        """Close every connection with no request in progress; return how many remain busy."""
        busy = 0
        for conn in list(self.connections):
            if not conn.close_if_idle():
                busy += 1
        return busy

    def stop(self) -> None:
        """Stop the ticker and close every connection."""
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        for conn in list(self.connections):
            conn.close_now()
