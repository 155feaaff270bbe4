"""Passive health checks: take a server out after real requests to it fail (Traefik v3.6 ``passiveHealthCheck``).

Each server's handler is wrapped (:meth:`PassiveHealthChecker.wrap`). A request **fails** when the server raises an
:class:`~hanzo_edge.http.errors.UpstreamError` (no response head: refused, reset, timed out, malformed) or answers
with a 5xx status; any other answer clears the server's failure history. A client that went away
(:class:`~hanzo_edge.http.errors.ClientClosed`) counts neither way.

When ``max_failed_attempts`` failures fall within the last ``failure_window`` seconds (by the injected ``clock``)
the server is marked DOWN through ``set_status(key, False)``. Without an active health check it comes back UP
``failure_window`` seconds later (a timer task started with the injected ``spawn`` and ``sleep``); with one, the
active checker alone brings it back, as in Traefik.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

from hanzo_edge.http.errors import ClientClosed, UpstreamError
from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.services.health import Sleep
from hanzo_edge.services.status import StatusSetter

__all__ = ["PassiveHealthChecker"]

Spawn = Callable[[Coroutine[Any, Any, None]], object]


class PassiveHealthChecker:
    """Counts failures per server key and marks servers down (and, without active checks, up again).

    ``set_status`` is the balancer's ``set_status``. ``spawn`` runs the recovery timers (the generation's
    ``TaskScope.spawn``); it is required unless ``has_active_health_check``. Non-positive ``max_failed_attempts``
    and ``failure_window`` fall back to Traefik's defaults (1 and 10s).
    """

    __slots__ = (
        "_clock",
        "_failures",
        "_recovering",
        "_sleep",
        "_spawn",
        "has_active",
        "max_failed",
        "set_status",
        "window",
    )

    def __init__(
        self,
        set_status: StatusSetter,
        *,
        max_failed_attempts: int = 1,
        failure_window: float = 10.0,
        has_active_health_check: bool = False,
        spawn: Spawn | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if spawn is None and not has_active_health_check:
            raise ValueError("a passive health check without an active one needs a task spawner for recovery")
        self.set_status = set_status
        self.max_failed = max_failed_attempts if max_failed_attempts > 0 else 1
        self.window = failure_window if failure_window > 0 else 10.0
        self.has_active = has_active_health_check
        self._spawn = spawn
        self._clock = clock
        self._sleep = sleep
        self._failures: dict[str, deque[float]] = {}
        self._recovering: set[str] = set()

    def wrap(self, key: str, handler: Handler) -> Handler:
        """Return ``handler`` wrapped so that its outcomes count for server ``key``."""

        async def observed(req: Request) -> Response:
            try:
                resp = await handler(req)
            except ClientClosed:
                raise
            except UpstreamError:
                self.record_failure(key)
                raise
            if resp.status >= 500:
                self.record_failure(key)
            else:
                self.record_success(key)
            return resp

        return observed

    def record_success(self, key: str) -> None:
        """Forget the failures of ``key`` (a request to it got a non-5xx answer)."""
        failures = self._failures.get(key)
        if failures:
            failures.clear()

    def record_failure(self, key: str) -> None:
        """Count one failure of ``key`` now; mark it down when the window holds ``max_failed_attempts`` of them."""
        now = self._clock()
        failures = self._failures.get(key)
        if failures is None:
            failures = self._failures[key] = deque()
        failures.append(now)
        start = now - self.window
        while failures and failures[0] <= start:
            failures.popleft()
        if len(failures) < self.max_failed or key in self._recovering:
            return
        self.set_status(key, False)
        if self.has_active or self._spawn is None:
            return
        self._recovering.add(key)
        self._spawn(self._recover(key))

    async def _recover(self, key: str) -> None:
        try:
            await self._sleep(self.window)
        finally:
            self._recovering.discard(key)
        self.set_status(key, True)

    def failures(self, key: str) -> int:
        """Return how many failures of ``key`` are within the window now."""
        failures = self._failures.get(key)
        if not failures:
            return 0
        start = self._clock() - self.window
        return sum(1 for t in failures if t > start)

    def is_down(self, key: str) -> bool:
        """True while a recovery timer for ``key`` is pending (never with an active health check)."""
        return key in self._recovering
