"""``qos/circuit-breaker`` (krakend-circuitbreaker over sony/gobreaker) around one KrakenD backend.

A backend-level wrapper: it wraps the backend call (``BackendCall.send``), so what it sees is the backend's answer.
gobreaker's state machine, with krakend-circuitbreaker's settings:

* **closed**: calls pass; a failure is an exception or a status other than 200/201 (Lura's default status handler
  turns those into errors before the breaker sees them; a no-op backend's statuses are answers, ``statuses_fail``);
  the breaker trips when the *consecutive* failures exceed
  ``max_errors``. With ``interval`` > 0 the counts are cleared every ``interval`` seconds (a new generation).
* **open**: every call fails at once with "circuit breaker is open" (the endpoint answers 500) until ``timeout``
  seconds (gobreaker's default 60 s when 0) have passed; then **half-open**.
* **half-open**: one call at a time is let through (gobreaker's ``MaxRequests`` 1; the others fail with "too many
  requests"); its success closes the breaker, its failure opens it again.

Time comes from the build context's clock (tests inject a fake one). ``log_status_change`` logs each transition
at WARNING (KrakenD logs at the same level), naming the breaker.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import msgspec

from hanzo_edge.http.errors import UpstreamError
from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.middlewares.base import BuildContext, register

__all__ = ["CLOSED", "HALF_OPEN", "OPEN", "BreakerOpen", "GoBreaker", "KrakendCircuitBreakerConfig"]

log = logging.getLogger("hanzo_edge.gateway")

CLOSED = "closed"
HALF_OPEN = "half-open"
OPEN = "open"
_DEFAULT_TIMEOUT = 60.0
_ACCEPTED = (200, 201)


class KrakendCircuitBreakerConfig(msgspec.Struct, frozen=True, kw_only=True):
    """The namespace's values, in seconds. ``breaker_id`` (the block's JSON path) keeps two backends apart."""

    breaker_id: str
    interval: float = 0.0
    timeout: float = 0.0
    max_errors: int = 0
    name: str = ""
    log_status_change: bool = False
    # False for a no-op backend: Lura gives those NoOpHTTPStatusHandler, so any status is an answer, not an error,
    # and only a failed call counts (clients provoking 401/404s must not open the breaker for everyone).
    statuses_fail: bool = True


class BreakerOpen(UpstreamError):
    """The breaker refused the call (open, or half-open with its one trial call in flight)."""


class GoBreaker:
    """sony/gobreaker's ``CircuitBreaker`` with ``MaxRequests`` 1 (see the module docstring)."""

    __slots__ = (
        "_clock",
        "_consecutive_failures",
        "_expiry",
        "_in_flight",
        "_on_change",
        "interval",
        "max_errors",
        "state",
        "timeout",
    )

    def __init__(
        self,
        interval: float,
        timeout: float,
        max_errors: int,
        clock: Callable[[], float],
        on_change: Callable[[str, str], None] | None = None,
    ) -> None:
        self.interval = interval
        self.timeout = timeout if timeout > 0 else _DEFAULT_TIMEOUT
        self.max_errors = max_errors
        self._clock = clock
        self._on_change = on_change
        self.state = CLOSED
        self._consecutive_failures = 0
        self._in_flight = 0
        self._expiry = clock() + interval if interval > 0 else 0.0

    def current_state(self) -> str:
        """The state now (an open breaker whose timeout passed is half-open; a closed one starts a new interval)."""
        now = self._clock()
        if self.state == CLOSED:
            if self._expiry and self._expiry <= now:
                self._new_generation(now)
        elif self.state == OPEN and self._expiry <= now:
            self._set(HALF_OPEN, now)
        return self.state

    def before(self) -> None:
        """Admit one call or raise :class:`BreakerOpen`."""
        state = self.current_state()
        if state == OPEN:
            raise BreakerOpen("circuit breaker is open")
        if state == HALF_OPEN and self._in_flight >= 1:
            raise BreakerOpen("too many requests")
        self._in_flight += 1

    def after(self, success: bool) -> None:
        """Record the result of an admitted call."""
        self._in_flight = max(0, self._in_flight - 1)
        now = self._clock()
        state = self.current_state()
        if success:
            if state == CLOSED:
                self._consecutive_failures = 0
            elif state == HALF_OPEN:
                self._set(CLOSED, now)
            return
        if state == CLOSED:
            self._consecutive_failures += 1
            if self._consecutive_failures > self.max_errors:
                self._set(OPEN, now)
        elif state == HALF_OPEN:
            self._set(OPEN, now)

    def _new_generation(self, now: float) -> None:
        self._consecutive_failures = 0
        self._in_flight = 0
        if self.state == CLOSED:
            self._expiry = now + self.interval if self.interval > 0 else 0.0
        elif self.state == OPEN:
            self._expiry = now + self.timeout
        else:
            self._expiry = 0.0

    def _set(self, state: str, now: float) -> None:
        if state == self.state:
            return
        previous, self.state = self.state, state
        self._new_generation(now)
        if self._on_change is not None:
            self._on_change(previous, state)


@register("krakendCircuitBreaker", KrakendCircuitBreakerConfig)
class KrakendCircuitBreaker:
    """The wrapper: raises :class:`BreakerOpen` instead of calling a backend the breaker keeps closed off."""

    __slots__ = ("breaker", "next", "statuses_fail")

    def __init__(self, next: Handler, config: KrakendCircuitBreakerConfig, *, name: str, ctx: BuildContext) -> None:
        self.next = next
        self.statuses_fail = config.statuses_fail
        label = config.name or name

        def changed(previous: str, state: str) -> None:
            log.warning(
                "[BACKEND: %s][CB] Circuit breaker named '%s' went from '%s' to '%s'", label, label, previous, state
            )

        self.breaker = GoBreaker(
            config.interval,
            config.timeout,
            config.max_errors,
            ctx.clock,
            changed if config.log_status_change else None,
        )

    async def __call__(self, req: Request) -> Response:
        self.breaker.before()
        try:
            response = await self.next(req)
        except BaseException as exc:
            # A cancelled call (the client went away, the merge timed out) is no failure of the backend (v3).
            self.breaker.after(isinstance(exc, asyncio.CancelledError))
            raise
        self.breaker.after(response.status in _ACCEPTED or not self.statuses_fail)
        return response
