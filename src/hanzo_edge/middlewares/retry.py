"""``retry``: try the request again when the backend could not be reached (Traefik ``pkg/middlewares/retry``).

Traefik 3.6 semantics: a network error retries only when nothing was sent to the backend — here a
:class:`~hanzo_edge.http.errors.ConnectError` or a dial timeout raised before any response head. Any response
(5xx included), a failure after the request was written, and a load balancer with no server left
(``503 no available server``, the proxy was never reached) are final. Up to ``attempts`` tries in all; the last one
is served as it comes (so its error gives the client the usual 502/504). Request bodies are never replayed by a
network retry: nothing of them was read.

Backoff (cenkalti ``ExponentialBackOff`` as Traefik configures it): none when ``initialInterval <= 0`` or
``attempts < 2``; else the first wait is ``initialInterval`` randomised by ±50 %, each next interval is multiplied
by ``2 ** (1 / (attempts - 1))`` (so the last is about twice the first), capped at 60 s.

Traefik 3.7 options (as the model has them): ``status`` (``["500-599", "429"]``) also retries on those response codes
— only for idempotent methods (not ``POST``/``PATCH``/``LOCK``) unless ``retryNonIdempotentMethod``; the body is
buffered first so it can be replayed, up to ``maxRequestBodyBytes`` (``-1``: unlimited; a larger body turns the
status retry off for that request, network retries still apply). ``timeout`` stops retrying once that long has passed
since the first try. ``disableRetryOnNetworkError`` leaves only status retries (then ``status`` is required).

The number of retries made (Traefik's access-log ``RetryAttempts``: 0 when the first try was final) is stored in
``req.retry_attempts``. Backoff sleeps go through the instance's ``sleep`` and jitter through ``random``, so
tests can replace them; elapsed time comes from the build context's clock.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Awaitable, Callable
from typing import Any

from hanzo_edge.http.body import BodyError, StreamBody, relayed
from hanzo_edge.http.errors import ClientClosed, ConnectError, DialTimeout, NoAvailableServer, UpstreamError
from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.middlewares.base import BuildContext, register

__all__ = ["Retry", "not_sent", "parse_status_ranges"]

MAX_INTERVAL = 60.0
"""cenkalti ``DefaultMaxInterval``: no wait grows past a minute."""

RANDOMIZATION = 0.5
"""cenkalti ``DefaultRandomizationFactor``: each wait is the interval ± 50 %."""

_NON_IDEMPOTENT = frozenset({"POST", "PATCH", "LOCK"})
_DRAIN_LIMIT = 64 * 1024
_CODE = re.compile(r"[+-]?\d+")


def _atoi(text: str) -> int:
    if not _CODE.fullmatch(text):
        raise ValueError(f'strconv.Atoi: parsing "{text}": invalid syntax')
    return int(text)


def parse_status_ranges(blocks: tuple[str, ...] | list[str]) -> tuple[tuple[int, int], ...]:
    """Parse Traefik's ``HTTPCodeRanges`` (``"500"``, ``"500-599"``, comma lists; inclusive). Raises ValueError."""
    ranges: list[tuple[int, int]] = []
    for block in blocks:
        for item in str(block).split(","):
            low, sep, high = item.partition("-")
            if sep:
                ranges.append((_atoi(low), _atoi(high)))
            else:
                code = _atoi(item)
                ranges.append((code, code))
    return tuple(ranges)


def not_sent(exc: UpstreamError) -> bool:
    """True when ``exc`` means no byte of the request reached the backend (dial refused, unreachable, timed out)."""
    if isinstance(exc, ConnectError):
        return True
    return isinstance(exc, DialTimeout)


def _replayable(body: bytes | StreamBody) -> bool:
    return isinstance(body, bytes) or not body.consumed


def _discard(response: Response) -> None:
    """Throw away a response that will be retried: drain a small body (keeps the connection), else close it."""
    body = response.body
    if isinstance(body, StreamBody) and not body.consumed:
        body.discard(drain_up_to=_DRAIN_LIMIT)


async def _buffer(body: StreamBody, limit: int) -> tuple[bytes, bool]:
    """Read ``body`` for replay: ``(bytes, True)`` when whole, ``(bytes read so far, False)`` past ``limit``."""
    if limit >= 0 and body.length is not None and body.length > limit:
        return b"", False
    parts: list[bytes] = []
    total = 0
    while chunk := await body.read_chunk():
        parts.append(chunk)
        total += len(chunk)
        if 0 <= limit < total:
            return b"".join(parts), False
    return b"".join(parts), True


def _record(req: Request, retries: int) -> None:
    req.retry_attempts = retries


@register("retry")
class Retry:
    """Retries unreachable backends (and, with ``status``, chosen response codes). See the module docstring.

    Raises ValueError when ``attempts <= 0``, a status range is invalid, or both ``status`` is empty and
    ``disableRetryOnNetworkError`` is set.
    """

    __slots__ = (
        "attempts",
        "clock",
        "initial_interval",
        "max_body",
        "multiplier",
        "name",
        "network",
        "next",
        "non_idempotent",
        "random",
        "ranges",
        "sleep",
        "timeout",
    )

    def __init__(self, next: Handler, config: Any, *, name: str, ctx: BuildContext) -> None:
        status = tuple(str(s) for s in getattr(config, "status", ()) or ())
        disable_network = bool(getattr(config, "disable_retry_on_network_error", False))
        if not status and disable_network:
            raise ValueError("retry middleware requires at least HTTP status codes or retry on TCP")
        attempts = int(getattr(config, "attempts", 0) or 0)
        if attempts <= 0:
            raise ValueError(f"incorrect (or empty) value for attempt ({attempts})")
        try:
            self.ranges = parse_status_ranges(status)
        except ValueError as exc:
            raise ValueError(f"creating HTTP code ranges: {exc}") from None
        self.next = next
        self.name = name
        self.attempts = attempts
        self.network = not disable_network
        self.non_idempotent = bool(getattr(config, "retry_non_idempotent_method", False))
        max_body = getattr(config, "max_request_body_bytes", 2 * 1024 * 1024)
        self.max_body = -1 if max_body is None else int(max_body)
        self.initial_interval = float(getattr(config, "initial_interval", 0.0) or 0.0)
        self.timeout = float(getattr(config, "timeout", 0.0) or 0.0)
        self.multiplier = 2 ** (1 / (attempts - 1)) if attempts >= 2 else 1.0
        self.clock: Callable[[], float] = ctx.clock
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
        self.random: Callable[[], float] = random.random

    def __call__(self, req: Request) -> Awaitable[Response]:
        if self.attempts == 1:
            return self.next(req)
        return self._serve(req)

    def _matches(self, code: int, ranges: tuple[tuple[int, int], ...]) -> bool:
        return any(low <= code <= high for low, high in ranges)

    async def _serve(self, req: Request) -> Response:
        ranges = self.ranges if (self.non_idempotent or req.method not in _NON_IDEMPOTENT) else ()
        body = req.body
        if ranges and isinstance(body, StreamBody):
            try:
                data, whole = await _buffer(body, self.max_body)
            except BodyError:
                return Response.text(500, "Internal Server Error\n")
            if whole:
                req.body = data
            else:
                ranges = ()  # too large to replay: network retries only (nothing of it is sent before those)
                if data:
                    req.body = relayed(body, (data,))  # the bytes read, then the rest as it arrives
        start = self.clock()
        interval = self.initial_interval
        backoff = self.initial_interval > 0
        attempt = 1
        while True:
            if attempt >= self.attempts:
                _record(req, attempt - 1)
                return await self.next(req)
            timed_out = False
            try:
                response = await self.next(req)
            except ClientClosed:
                _record(req, attempt - 1)
                raise
            except (UpstreamError, NoAvailableServer) as exc:
                timed_out = self.timeout > 0 and self.clock() - start >= self.timeout
                code = 503 if isinstance(exc, NoAvailableServer) else exc.status
                retry = not timed_out and _replayable(req.body)
                if isinstance(exc, UpstreamError) and self.network and not_sent(exc):
                    pass  # reached the proxy, sent nothing: a network retry
                elif not self._matches(code, ranges):
                    retry = False
                if not retry:
                    _record(req, attempt - 1)
                    raise
            else:
                if not ranges or not self._matches(response.status, ranges):
                    _record(req, attempt - 1)
                    return response
                timed_out = self.timeout > 0 and self.clock() - start >= self.timeout
                if timed_out or response.tunnel is not None:
                    _record(req, attempt - 1)
                    return response
                _discard(response)
            attempt += 1
            if backoff:
                delta = RANDOMIZATION * interval
                delay = interval - delta + self.random() * 2 * delta
                interval = MAX_INTERVAL if interval >= MAX_INTERVAL / self.multiplier else interval * self.multiplier
                await self.sleep(delay)
