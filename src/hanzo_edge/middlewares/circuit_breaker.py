"""``circuitBreaker``: stop calling a failing service for a while (Traefik ``circuitbreaker`` on oxy ``cbreaker``).

``expression`` (see ``_breaker_expr``) is checked at most every ``checkPeriod`` (100ms) against rolling metrics of
the responses of what follows the breaker in the chain (see ``_breaker``: counters over 10 x 1s, latencies over
6 x 10s). When it holds, the breaker trips: for ``fallbackDuration`` (10s) requests get ``responseCode`` (503) with
the status text as body; then for ``recoveryDuration`` (10s) a linearly growing share of requests is let through
(the expression still holding trips it again); then it is closed again.

What is recorded: the status of the next handler's response, its latency up to the response head, and for a
failure the status the client will get (502/504 for an upstream error, 503 for no available server, 499 when the
client went away, 500 otherwise).

Hanzo addition: ``fallbackService`` names a service (resolved like ``errors.service``) that answers instead of the
``responseCode`` page while the breaker is open. State is per router (per middleware instance), per process.
"""

from __future__ import annotations

import asyncio
from typing import Any

from hanzo_edge.config.middlewares import CircuitBreaker as CircuitBreakerConfig
from hanzo_edge.http.errors import NoAvailableServer, UpstreamError
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.http.status import status_text
from hanzo_edge.middlewares._breaker import Breaker
from hanzo_edge.middlewares._breaker_expr import parse_expression
from hanzo_edge.middlewares.base import BuildContext, register

__all__ = ["CircuitBreaker"]

_SECOND = 1_000_000_000


def _duration_ns(value: Any, default: float) -> int:
    seconds = float(value or 0.0)
    return round((seconds if seconds > 0 else default) * _SECOND)


@register("circuitBreaker")
class CircuitBreaker:
    """Trips on ``expression``. Raises ValueError for an empty or invalid expression, a response code outside
    100..999, or a ``fallbackService`` that does not exist."""

    __slots__ = ("breaker", "clock", "expression", "fallback", "name", "next", "response_code")

    def __init__(self, next: Handler, config: CircuitBreakerConfig, *, name: str, ctx: BuildContext) -> None:
        expression = parse_expression(str(getattr(config, "expression", "") or ""))
        code = int(getattr(config, "response_code", 503) or 0)
        if not 100 <= code <= 999:
            raise ValueError(f"invalid responseCode {code}: must be between 100 and 999")
        fallback_service = str(getattr(config, "fallback_service", "") or "")
        self.fallback: Handler | None = None
        if fallback_service:
            self.fallback = ctx.service(fallback_service)
            if self.fallback is None:
                raise ValueError(f'fallback service "{fallback_service}" does not exist')
        self.next = next
        self.name = name
        self.expression = expression
        self.response_code = code
        self.clock = ctx.clock
        self.breaker = Breaker(
            expression,
            _duration_ns(getattr(config, "check_period", 0.1), 0.1),
            _duration_ns(getattr(config, "fallback_duration", 10.0), 10.0),
            _duration_ns(getattr(config, "recovery_duration", 10.0), 10.0),
        )

    def _now(self) -> int:
        return round(self.clock() * _SECOND)

    async def __call__(self, req: Request) -> Response:
        breaker = self.breaker
        start = self._now()
        if not breaker.allow(start):
            fallback = self.fallback
            if fallback is not None:
                return await fallback(req)
            code = self.response_code
            return Response(code, Headers(), status_text(code).encode())
        try:
            response = await self.next(req)
        except UpstreamError as exc:
            self._record(exc.status, start)
            raise
        except NoAvailableServer:
            self._record(503, start)
            raise
        except asyncio.CancelledError:
            self._record(499, start)
            raise
        except Exception:
            self._record(500, start)
            raise
        self._record(response.status, start)
        return response

    def _record(self, status: int, start: int) -> None:
        now = self._now()
        self.breaker.record(status, now - start, now)
