"""Assemble a ``loadBalancer`` service from plain arguments: strategy, sticky cookie, active and passive checks.

The builder maps the configuration onto :class:`HealthCheckOptions` / :class:`PassiveOptions` and calls
:func:`build_load_balancer` with one ``(server URL, weight, handler)`` per server (the handler is normally a
``ServerTarget``). The result's balancer is the service handler; its ``checker`` (if any) is started with
``result.start(scope.spawn)`` once the generation's event loop runs, and stops when the scope is closed.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Collection, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hanzo_edge.goquote import go_quote
from hanzo_edge.http.messages import Handler
from hanzo_edge.services.health import DEFAULT_INTERVAL, DEFAULT_TIMEOUT, ActiveHealthChecker, Probe, Sleep
from hanzo_edge.services.hrw_servers import ServerRendezvous
from hanzo_edge.services.leasttime import LeastTime
from hanzo_edge.services.p2c import PowerOfTwoChoices
from hanzo_edge.services.passive import PassiveHealthChecker
from hanzo_edge.services.status import StatusSetter
from hanzo_edge.services.sticky import StickyCookie
from hanzo_edge.services.wrr import WeightedRoundRobin

__all__ = ["STRATEGIES", "Balancer", "BuiltLoadBalancer", "HealthCheckOptions", "PassiveOptions", "build_load_balancer"]

Spawn = Callable[[Coroutine[Any, Any, None]], object]

Balancer = WeightedRoundRobin | PowerOfTwoChoices | ServerRendezvous | LeastTime
"""The balancers of ``loadBalancer.strategy``: each takes ``add(url, weight, handler, fenced)`` and
``set_status(url, up)``, and answers ``status(url)``."""

STRATEGIES = ("wrr", "p2c", "hrw", "leasttime")
"""Traefik v3.6's ``loadBalancer.strategy`` values ("" also means wrr, for providers that set no default)."""

# Configuration that Traefik accepts and ignores is still named (at WARNING whatever the configured level).
_unused = logging.getLogger("hanzo_edge.unsupported")


@dataclass(frozen=True, slots=True)
class HealthCheckOptions:
    """``loadBalancer.healthCheck`` as plain values (durations in seconds; see ActiveHealthChecker)."""

    path: str = ""
    scheme: str = ""
    mode: str = "http"
    method: str = ""
    status: int = 0
    port: int = 0
    interval: float = DEFAULT_INTERVAL
    unhealthy_interval: float | None = None
    timeout: float = DEFAULT_TIMEOUT
    hostname: str = ""
    follow_redirects: bool = True
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PassiveOptions:
    """``loadBalancer.passiveHealthCheck`` as plain values."""

    failure_window: float = 10.0
    max_failed_attempts: int = 1


@dataclass(slots=True)
class BuiltLoadBalancer:
    """A built load balancer: ``balancer`` is the service handler; ``checker`` runs once :meth:`start` is called."""

    balancer: Balancer
    checker: ActiveHealthChecker | None = None
    passive: PassiveHealthChecker | None = None

    def start(self, spawn: Spawn) -> None:
        """Start the active health-check loops (if any) with ``spawn`` (the generation's ``TaskScope.spawn``)."""
        if self.checker is not None:
            self.checker.start(spawn)


def build_load_balancer(
    name: str,
    servers: Sequence[tuple[str, float, Handler]],
    *,
    spawn: Spawn,
    strategy: str = "wrr",
    sticky: StickyCookie | None = None,
    health_check: HealthCheckOptions | None = None,
    passive: PassiveOptions | None = None,
    probe: Probe | None = None,
    sleep: Sleep = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
    rand: Callable[[int], int] = random.randrange,
    on_server_status: Callable[[str, str, bool], None] | None = None,
    fenced: Collection[str] = (),
) -> BuiltLoadBalancer:
    """Return the balancer of a ``loadBalancer`` service with its health checks wired (not started).

    ``servers`` are ``(url, weight, handler)``: the URL names the server for health and sticky cookies. ``spawn``
    runs passive-recovery timers (called only while serving). Raises ValueError for a ``strategy`` not in
    :data:`STRATEGIES` ("" means wrr) or invalid health-check options (absolute path, unknown mode). ``clock`` also
    times the ``leasttime`` strategy's responses.
    ``on_server_status(name, url, up)``, when given, also hears every status the health checks set (the
    ``service_server_up`` gauge); without it the checkers call ``balancer.set_status`` directly. Servers whose URL
    is in ``fenced`` only take requests already sticky to them (Traefik's fenced servers).
    """
    enabled = health_check is not None
    balancer: Balancer
    if strategy in ("", "wrr"):
        balancer = WeightedRoundRobin([], name, sticky=sticky, health_check_enabled=enabled)
    elif strategy == "p2c":
        balancer = PowerOfTwoChoices([], name, sticky=sticky, health_check_enabled=enabled, rand=rand)
    elif strategy == "hrw":
        if sticky is not None:
            _unused.warning("service %s: loadBalancer.sticky is ignored with strategy hrw, as in Traefik", name)
        balancer = ServerRendezvous(name, health_check_enabled=enabled)
    elif strategy == "leasttime":
        balancer = LeastTime(name, sticky=sticky, health_check_enabled=enabled, clock=clock)
    else:
        raise ValueError(f"unsupported load-balancer strategy {go_quote(strategy)}")  # Traefik's words
    set_status: StatusSetter = balancer.set_status
    if on_server_status is not None:
        set_status = _reporting(balancer.set_status, name, on_server_status)
    checker: ActiveHealthChecker | None = None
    if health_check is not None:
        checker = ActiveHealthChecker(
            {url: url for url, _weight, _handler in servers},
            set_status,
            interval=health_check.interval,
            unhealthy_interval=health_check.unhealthy_interval,
            timeout=health_check.timeout,
            path=health_check.path,
            port=health_check.port,
            scheme=health_check.scheme,
            hostname=health_check.hostname,
            method=health_check.method,
            status=health_check.status,
            headers=health_check.headers,
            follow_redirects=health_check.follow_redirects,
            mode=health_check.mode,
            probe=probe,
            sleep=sleep,
            clock=clock,
            name=name,
        )
    watcher: PassiveHealthChecker | None = None
    if passive is not None:
        watcher = PassiveHealthChecker(
            set_status,
            max_failed_attempts=passive.max_failed_attempts,
            failure_window=passive.failure_window,
            has_active_health_check=enabled,
            spawn=spawn,
            clock=clock,
            sleep=sleep,
        )
    for url, weight, handler in servers:
        balancer.add(url, weight, handler if watcher is None else watcher.wrap(url, handler), url in fenced)
    return BuiltLoadBalancer(balancer, checker, watcher)


def _reporting(set_status: StatusSetter, name: str, report: Callable[[str, str, bool], None]) -> StatusSetter:
    """Return a status setter that calls ``set_status(url, up)`` and then ``report(name, url, up)``."""

    def setter(url: str, up: bool) -> None:
        set_status(url, up)
        report(name, url, up)

    return setter
