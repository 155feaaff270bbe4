"""The per-request half of the access log: filter, render, append to the pending batch (compiled with the hot path).

:class:`~hanzo_edge.observability.accesslog.AccessLog` keeps everything that is not per request (the output, the
hand-over timer, reopen and close) and gives :meth:`LineBatch.observe` to the entrypoints as their observer. Split out
because the observer runs once per request on the event loop: compiled by mypyc (``scripts/build_compiled.py``) it
costs a fraction of the interpreted method, and it calls the compiled JSON line (:mod:`.json_line`) natively.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from hanzo_edge.http.messages import Request
from hanzo_edge.observability.accesslog.common_line import CommonLine
from hanzo_edge.observability.accesslog.json_line import JsonLine, request_content_size

if TYPE_CHECKING:
    from hanzo_edge.observability.accesslog.codegen import Renderer

__all__ = ["DEFERRED_LINES", "LineBatch", "Observed"]

log = logging.getLogger("hanzo_edge.observability.accesslog")

DEFERRED_LINES: Final = 256
"""At most this many observed requests wait to be rendered: a burst renders each 256 at once (and frees them)."""


class Observed:
    """An observed request waiting for its line, with what was read when it was observed.

    A native class compiled: its numbers are stored unboxed, where a tuple per request took an int or float object
    for each of the clock, the count and the duration, and unpacking it checked each item's type again.
    """

    def __init__(
        self,
        req: Request,
        status: int,
        sent: int,
        duration: float,
        retries: int,
        username: str,
        count: int,
        now_ns: int,
        size: int,
    ) -> None:
        self.req = req
        self.status = status
        self.sent = sent
        self.duration = duration
        self.retries = retries
        self.username = username
        self.count = count
        self.now_ns = now_ns
        self.size = size


class LineBatch:
    """Lines rendered and not yet handed over, and the filter that decides which requests make one.

    ``start_batch`` is called for the first line of a batch (the owner arranges the hand-over: at the end of the loop
    iteration, or after its flush interval); ``hand_over`` when the batch must go now (``bufferingSize`` lines, or
    ``batch_bytes``, or ``bufferingSize: 1``).
    """

    def __init__(
        self,
        render: Renderer,
        json: JsonLine | None,
        *,
        add_internals: bool,
        status_table: bytes,
        status_ranges: tuple[tuple[int, int], ...],
        retry_attempts: bool,
        min_duration: float,
        buffering: int,
        batch_bytes: int,
        start_batch: Callable[[], None],
        hand_over: Callable[[], None],
        common: CommonLine | None = None,
    ) -> None:
        self._render = render
        self._json = json
        self._common = common  # the compiled build's CLF line (common, genericCLF), rendered like the JSON one
        self._add_internals = add_internals
        self._status_table = status_table
        self._status_ranges = status_ranges
        self._filter_retry = retry_attempts
        self._min_duration = min_duration
        self._filtered = bool(status_ranges) or retry_attempts or min_duration > 0
        self._buffering = buffering
        self._batch_bytes = batch_bytes
        self._start_batch = start_batch
        self._hand_over = hand_over
        self._logged_route: object = None  # the last route found not internal (routes are immutable)
        self.pending = bytearray()
        """Rendered lines not yet handed to the writer."""
        self._deferred: list[Observed] = []
        """Observed requests whose JSON or CLF line is rendered at the hand-over (:meth:`take`)."""
        # Only when the batch goes at the end of this loop iteration (bufferingSize 0): a request kept until a
        # later hand-over (bufferingSize lines, or FLUSH_INTERVAL) would keep its buffered body alive with it.
        self._defer = (json is not None or common is not None) and buffering == 0
        self.lines = 0
        """How many lines :attr:`pending` holds."""
        self.scheduled = False
        """A hand-over is arranged for the current batch."""
        self.closed = False
        """The log is closed: later requests are not logged."""
        self.request_count = 0
        """Requests observed since start (Traefik's ``RequestCount``)."""

    def take(self) -> bytearray:
        """Return the pending lines, rendered, and start a new batch.

        A batch stops at ``batch_bytes`` (what a write on the loop may hold): requests still waiting to be rendered
        stay for the next call, and :attr:`lines` says how many.
        """
        self._render_deferred(self._batch_bytes)
        batch = self.pending
        self.pending = bytearray()
        self.lines = len(self._deferred)
        return batch

    def _render_deferred(self, limit: int) -> None:
        # Render waiting requests into the pending lines until they hold `limit` bytes, or none waits.
        deferred = self._deferred
        json = self._json
        common = self._common
        if not deferred or (json is None and common is None):
            return
        pending = self.pending
        # The usual JSON and CLF lines come as text: joined and encoded once per batch instead of a bytes object each.
        # `texts` holds the lines after the last bytes appended to `pending`, which keeps the order.
        texts: list[str] = []
        size = len(pending)  # approximately: a text's length in characters, not in bytes
        done = 0
        for seen in deferred:
            if size >= limit:
                break
            done += 1
            try:
                line: str | bytes
                if json is not None:
                    line = json.line_at(
                        seen.req,
                        seen.status,
                        seen.sent,
                        seen.duration,
                        seen.retries,
                        seen.username,
                        seen.count,
                        seen.now_ns,
                        seen.size,
                    )
                elif common is not None:
                    line = common.line_at(
                        seen.req, seen.status, seen.sent, seen.duration, seen.username, seen.count, seen.now_ns
                    )
                else:
                    break
            except Exception:  # one line that cannot be written must not lose the batch
                log.exception("access log: a line could not be rendered")
                continue
            size += len(line)
            if isinstance(line, str):
                texts.append(line)
                continue
            if texts:
                pending += "".join(texts).encode()
                texts.clear()
            pending += line
        if texts:
            pending += "".join(texts).encode()
        del deferred[:done]

    def observe(self, req: Request, status: int, response_bytes: int, duration: float, aborted: bool) -> None:
        """Log one finished request (``RequestObserver``); ``aborted`` requests are logged with their status."""
        if self.closed:
            return
        route = req.route
        if route is not None and route is not self._logged_route and not self._add_internals:
            service = route.service
            if service.endswith("@internal") or (not service and route.name.endswith("@internal")):
                return
            self._logged_route = route  # the next request of the same route skips the suffix checks
        self.request_count += 1
        retries = req.retry_attempts or 0
        username = req.client_username or "-"
        if self._filtered and not self._keep_line(status, retries, duration):
            return
        json = self._json
        if json is not None and self._defer:
            # Rendered at the end of this loop iteration with the batch's other lines, one after another: the
            # renderer's code and memos stay in the CPU caches, which interleaved with the proxy's work per request
            # they do not (a compiled line cost ~2.7 µs of CPU end to end rendered here, ~1.3 in a loop). What can
            # still change on the request (the clock, a body drained after an early answer) is read now.
            size = request_content_size(req)
            self._deferred.append(
                Observed(req, status, response_bytes, duration, retries, username, self.request_count, json.now(), size)
            )
            if len(self._deferred) >= DEFERRED_LINES:
                self._render_deferred(self._batch_bytes)
        elif json is not None:
            self.pending += json.render(req, status, response_bytes, duration, retries, username, self.request_count)
        elif self._common is not None:
            common = self._common
            if self._defer:  # as the JSON line above; CLF has no RequestContentSize to read now
                self._deferred.append(
                    Observed(
                        req, status, response_bytes, duration, retries, username, self.request_count, common.now(), 0
                    )
                )
                if len(self._deferred) >= DEFERRED_LINES:
                    self._render_deferred(self._batch_bytes)
            else:
                count = self.request_count
                self.pending += common.render(req, status, response_bytes, duration, retries, username, count)
        else:
            # Appending to one buffer is what keeps this cheap: holding each line alive costs more than the copy.
            self.pending += self._render(req, status, response_bytes, duration, retries, username, self.request_count)
        self.lines += 1
        if self.scheduled:
            if (self._buffering and self.lines >= self._buffering) or len(self.pending) >= self._batch_bytes:
                self._hand_over()
            return
        if self._buffering == 1:
            self._hand_over()
            return
        self._start_batch()

    def _keep_line(self, status: int, retries: int, duration: float) -> bool:
        # Traefik's keepAccessLog: the filters are OR-ed.
        if 0 <= status < 1000:
            if self._status_table[status]:
                return True
        elif any(low <= status <= high for low, high in self._status_ranges):
            return True
        if self._filter_retry and retries > 0:
            return True
        return self._min_duration > 0 and duration > self._min_duration
