"""Active health checks of a load balancer's servers (Traefik ``pkg/healthcheck``, HTTP mode).

One task per server probes it every ``interval`` (every ``unhealthy_interval`` while it is down; the first probe
happens one interval after start, as Traefik's ticker does). One failed probe marks the server DOWN and one
successful probe marks it UP: there are no thresholds. A probe fails when it raises (connection error, timeout,
malformed answer) or its status is not the expected one: any 2xx/3xx when ``status`` is 0, else exactly ``status``.

The probe itself is injected (``probe(url, method, headers, timeout, follow_redirects) -> status``), so tests drive
it by hand; :func:`hanzo_edge.services.health_probe.http_probe` is the real one. Time is injected too: ``sleep``
(an ``async (seconds) -> None``) paces the loops and ``clock`` stamps state changes. After every probe the checker
calls ``on_change(server_key, up)`` — normally the balancer's ``set_status``, which is idempotent — so a server that
a passive check took out comes back with the next successful probe.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

from hanzo_edge.services.health_probe import http_probe
from hanzo_edge.services.status import StatusSetter

__all__ = ["ActiveHealthChecker", "HealthState", "Probe", "Sleep", "is_healthy_status", "probe_url"]

Probe = Callable[[str, str, Mapping[str, str], float, bool], Awaitable[int]]
"""``probe(url, method, headers, timeout, follow_redirects) -> status``; raises on connection errors/timeouts."""

Sleep = Callable[[float], Awaitable[None]]
"""``await sleep(seconds)``: ``asyncio.sleep`` in production, a hand-driven fake in tests."""

Spawn = Callable[[Coroutine[Any, Any, None]], object]

DEFAULT_INTERVAL = 30.0
DEFAULT_TIMEOUT = 5.0


def is_healthy_status(status: int, expected: int = 0) -> bool:
    """Return whether a probe's ``status`` is healthy: any 2xx/3xx when ``expected`` is 0, else an exact match."""
    if expected == 0:
        return 200 <= status < 400
    return status == expected


def probe_url(server_url: str, path: str = "", scheme: str = "", port: int = 0) -> str:
    """Return the URL to probe for ``server_url``: ``path`` resolved against it (like Go's ``URL.Parse``), then the
    ``scheme`` and ``port`` overrides applied. Raises ValueError when ``path`` is not relative."""
    ref = urlsplit(path)
    if ref.scheme or ref.netloc:
        raise ValueError(f"health check path must be relative, got {path!r}")
    parts = urlsplit(server_url)
    if path:
        # urljoin only resolves for schemes it knows (not h2c): resolve as http, then put the scheme back.
        joined = urlsplit(urljoin(urlunsplit(("http", *parts[1:])), path))
        parts = joined._replace(scheme=parts.scheme)
    netloc = parts.netloc
    if port:
        host = parts.hostname or ""
        host = f"[{host}]" if ":" in host else host
        userinfo = netloc.rpartition("@")[0]
        netloc = f"{userinfo}@{host}:{port}" if userinfo else f"{host}:{port}"
    return urlunsplit((scheme or parts.scheme, netloc, parts.path, parts.query, ""))


class HealthState:
    """The health of one server as the active checker sees it: pure logic, no I/O.

    Starts UP. :meth:`record` applies one probe result (one failure ⇒ DOWN, one success ⇒ UP) and says whether the
    state flipped; :meth:`next_delay` is how long to wait before the next probe.
    """

    __slots__ = ("changed_at", "checks", "interval", "last_error", "unhealthy_interval", "up")

    def __init__(self, interval: float, unhealthy_interval: float | None = None, *, up: bool = True) -> None:
        self.interval = interval
        self.unhealthy_interval = interval if unhealthy_interval is None else unhealthy_interval
        self.up = up
        self.checks = 0
        self.changed_at: float | None = None
        self.last_error = ""

    def record(self, ok: bool, now: float = 0.0, error: str = "") -> bool:
        """Apply one probe result; return True when the state flipped (``changed_at`` is then ``now``)."""
        self.checks += 1
        self.last_error = "" if ok else error
        if ok == self.up:
            return False
        self.up = ok
        self.changed_at = now
        return True

    def next_delay(self) -> float:
        """Return the wait before the next probe: ``interval`` while up, ``unhealthy_interval`` while down."""
        return self.interval if self.up else self.unhealthy_interval


class ActiveHealthChecker:
    """Probes a set of servers periodically and reports each result through ``on_change(key, up)``.

    ``targets`` maps a server key (the name the balancer knows the server by: its URL) to the server URL. Options
    mirror ``loadBalancer.healthCheck``: ``path`` (relative), ``scheme``/``port`` overrides, ``hostname`` (sent as
    ``Host``), ``method`` ("" = GET), ``status`` (0 = 2xx/3xx), ``headers``, ``follow_redirects``; ``interval``,
    ``unhealthy_interval`` (None = ``interval``) and ``timeout`` in seconds, non-positive values falling back to the
    defaults as Traefik does. ``mode`` is ``http`` or ``grpc`` (then ``probe`` is the gRPC health probe,
    :mod:`hanzo_edge.services.grpc_health`); another mode raises ValueError, as does an absolute ``path``.
    ``probe`` defaults to :func:`~hanzo_edge.services.health_probe.http_probe`.
    """

    __slots__ = (
        "_clock",
        "_probe",
        "_sleep",
        "expected_status",
        "follow_redirects",
        "headers",
        "method",
        "name",
        "on_change",
        "states",
        "timeout",
        "urls",
    )

    def __init__(
        self,
        targets: Mapping[str, str],
        on_change: StatusSetter,
        *,
        interval: float = DEFAULT_INTERVAL,
        unhealthy_interval: float | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        path: str = "",
        port: int = 0,
        scheme: str = "",
        hostname: str = "",
        method: str = "",
        status: int = 0,
        headers: Mapping[str, str] | None = None,
        follow_redirects: bool = True,
        mode: str = "http",
        probe: Probe | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        name: str = "",
    ) -> None:
        if mode.lower() not in ("", "http", "grpc"):
            raise ValueError(f"health check mode {mode!r} is not supported (http or grpc)")
        if mode.lower() == "grpc":
            status = 0  # the gRPC probe answers 200 for SERVING; Traefik ignores ``status`` in this mode
        if interval <= 0:
            interval = DEFAULT_INTERVAL
        if unhealthy_interval is None or unhealthy_interval <= 0:
            unhealthy_interval = interval
        self.timeout = timeout if timeout > 0 else DEFAULT_TIMEOUT
        self.name = name
        self.on_change = on_change
        self.method = (method or "GET").upper()
        self.expected_status = status
        self.follow_redirects = follow_redirects
        merged = {k: v for k, v in (headers or {}).items() if k.lower() != "host"}
        if hostname:
            merged["Host"] = hostname
        self.headers: Mapping[str, str] = merged
        self.urls = {key: probe_url(url, path, scheme, port) for key, url in targets.items()}
        self.states = {key: HealthState(interval, unhealthy_interval) for key in targets}
        self._probe: Probe = http_probe if probe is None else probe
        self._sleep = sleep
        self._clock = clock

    async def check(self, key: str) -> bool:
        """Probe server ``key`` once, record the result, report it to ``on_change``; return whether it is up.

        Raises KeyError for an unknown key. Cancellation propagates (it is never counted as a failure).
        """
        url = self.urls[key]
        error = ""
        try:
            status = await asyncio.wait_for(
                self._probe(url, self.method, self.headers, self.timeout, self.follow_redirects), self.timeout
            )
        except asyncio.CancelledError:
            raise
        except TimeoutError:
            ok, error = False, f"timeout after {self.timeout}s"
        except Exception as exc:
            ok, error = False, f"{type(exc).__name__}: {exc}"
        else:
            ok = is_healthy_status(status, self.expected_status)
            if not ok:
                error = f"received status {status}"
        self.states[key].record(ok, self._clock(), error)
        # Report every result, not only flips (as Traefik does): a passive check may have marked the server down
        # meanwhile, and the next successful probe must bring it back. ``set_status`` is idempotent.
        self.on_change(key, ok)
        return ok

    async def run(self, key: str) -> None:
        """Probe server ``key`` forever: wait the state's next delay, probe, repeat (until cancelled)."""
        state = self.states[key]
        while True:
            await self._sleep(state.next_delay())
            await self.check(key)

    def start(self, spawn: Spawn) -> None:
        """Start one :meth:`run` loop per server with ``spawn`` (normally the generation's ``TaskScope.spawn``)."""
        for key in self.urls:
            spawn(self.run(key))

    def __repr__(self) -> str:
        return f"<ActiveHealthChecker {self.name} {[(k, s.up) for k, s in self.states.items()]}>"
