"""The circuit breaker's state machine and rolling metrics (oxy ``cbreaker`` v2.1.0 and ``memmetrics``).

Pure and clock-free: every method takes the time in integer nanoseconds, so tests drive it with a fake clock.

**Metrics** (:class:`RollingMetrics`), as oxy's ``RTMetrics``:

* request, network-error (502/504) and per-status counters over a rolling window of **10 buckets of 1 second**
  (the current second and the 9 before it);
* latencies (µs) in a log-bucketed histogram (< 1% relative error, like HDR's 2 significant digits) over
  **6 buckets of 10 seconds**. ``LatencyAtQuantileMS`` returns the highest value of the bucket holding the quantile.

**States** (:class:`Breaker`):

* ``standby`` (closed): requests pass; after each response, at most once per ``checkPeriod``, the expression is
  evaluated and, when true, the breaker trips: state ``tripped`` until ``now + fallbackDuration``, metrics reset;
* ``tripped`` (open): requests get the fallback; the first request at or after the deadline moves to ``recovering``
  for ``recoveryDuration``;
* ``recovering``: a :class:`RatioController` lets through a share of requests that grows linearly with time
  (allowed / (allowed + denied) kept under ``0.5 * elapsed / recoveryDuration``); the others get the fallback. The
  checks go on, so the expression still being true trips the breaker again. The first request after the recovery
  deadline returns the breaker to ``standby``.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = [
    "RECOVERING",
    "STANDBY",
    "TRIPPED",
    "Breaker",
    "LatencyHistogram",
    "RatioController",
    "RollingMetrics",
]

STANDBY = "standby"
TRIPPED = "tripped"
RECOVERING = "recovering"

_SECOND = 1_000_000_000
COUNTER_BUCKETS = 10
COUNTER_RESOLUTION_NS = _SECOND
HIST_BUCKETS = 6
HIST_RESOLUTION_NS = 10 * _SECOND
HIST_MAX_US = 3_600_000_000  # one hour, oxy's histogram ceiling

_SUB_BITS = 8  # values below 256 µs are exact; above, 128 sub-buckets per power of two


def _bucket_of(value_us: int) -> int:
    if value_us < 1 << _SUB_BITS:
        return value_us
    shift = value_us.bit_length() - _SUB_BITS
    return (shift << _SUB_BITS) | (value_us >> shift)


def _highest_in(bucket: int) -> int:
    if bucket < 1 << _SUB_BITS:
        return bucket
    shift = bucket >> _SUB_BITS
    mantissa = bucket & ((1 << _SUB_BITS) - 1)
    return ((mantissa + 1) << shift) - 1


class _CounterSlot:
    __slots__ = ("codes", "epoch", "net_errors", "total")

    def __init__(self) -> None:
        self.epoch = -1
        self.total = 0
        self.net_errors = 0
        self.codes: dict[int, int] = {}


class LatencyHistogram:
    """Rolling latency histogram: ``HIST_BUCKETS`` slots of ``HIST_RESOLUTION_NS``."""

    __slots__ = ("_epochs", "_slots")

    def __init__(self) -> None:
        self._epochs = [-1] * HIST_BUCKETS
        self._slots: list[dict[int, int]] = [{} for _ in range(HIST_BUCKETS)]

    def reset(self) -> None:
        """Forget every recorded latency."""
        self._epochs = [-1] * HIST_BUCKETS
        for slot in self._slots:
            slot.clear()

    def record(self, latency_us: int, now_ns: int) -> None:
        """Record one latency (clamped to 0..1h) at ``now_ns``."""
        epoch = now_ns // HIST_RESOLUTION_NS
        i = epoch % HIST_BUCKETS
        slot = self._slots[i]
        if self._epochs[i] != epoch:
            self._epochs[i] = epoch
            slot.clear()
        bucket = _bucket_of(min(max(latency_us, 0), HIST_MAX_US))
        slot[bucket] = slot.get(bucket, 0) + 1

    def value_at_quantile(self, quantile: float, now_ns: int) -> int:
        """Return the latency (µs) at percentile ``quantile`` of the window ending at ``now_ns`` (0 when empty)."""
        epoch = now_ns // HIST_RESOLUTION_NS
        merged: dict[int, int] = {}
        for slot_epoch, slot in zip(self._epochs, self._slots, strict=True):
            if epoch - HIST_BUCKETS < slot_epoch <= epoch:
                for bucket, count in slot.items():
                    merged[bucket] = merged.get(bucket, 0) + count
        total = sum(merged.values())
        if total == 0:
            return 0
        # HDR: the first value whose cumulative count reaches round(q% of the total).
        target = int(min(quantile, 100.0) / 100.0 * total + 0.5)
        if target <= 0:
            return 0
        seen = 0
        for bucket in sorted(merged):
            seen += merged[bucket]
            if seen >= target:
                return _highest_in(bucket)
        return _highest_in(max(merged))


class RollingMetrics:
    """oxy's ``RTMetrics``: what the breaker's expression reads. ``now_ns`` is the evaluation time."""

    __slots__ = ("_counters", "histogram", "now_ns")

    def __init__(self) -> None:
        self._counters = [_CounterSlot() for _ in range(COUNTER_BUCKETS)]
        self.histogram = LatencyHistogram()
        self.now_ns = 0

    def reset(self) -> None:
        """Forget everything (done when the breaker trips)."""
        self._counters = [_CounterSlot() for _ in range(COUNTER_BUCKETS)]
        self.histogram.reset()

    def record(self, status: int, latency_ns: int, now_ns: int) -> None:
        """Record one response: its status code and how long it took."""
        epoch = now_ns // COUNTER_RESOLUTION_NS
        slot = self._counters[epoch % COUNTER_BUCKETS]
        if slot.epoch != epoch:
            slot.epoch = epoch
            slot.total = 0
            slot.net_errors = 0
            slot.codes = {}
        slot.total += 1
        if status in (502, 504):
            slot.net_errors += 1
        slot.codes[status] = slot.codes.get(status, 0) + 1
        self.histogram.record(latency_ns // 1000, now_ns)

    def _live(self) -> list[_CounterSlot]:
        epoch = self.now_ns // COUNTER_RESOLUTION_NS
        return [s for s in self._counters if epoch - COUNTER_BUCKETS < s.epoch <= epoch]

    def total(self) -> int:
        """Requests recorded in the window."""
        return sum(s.total for s in self._live())

    def network_error_ratio(self) -> float:
        """Share of 502/504 responses in the window (0 when empty)."""
        live = self._live()
        total = sum(s.total for s in live)
        return sum(s.net_errors for s in live) / total if total else 0.0

    def response_code_ratio(self, start_a: int, end_a: int, start_b: int, end_b: int) -> float:
        """count(codes in [start_a, end_a)) / count(codes in [start_b, end_b)); 0 when the latter is 0."""
        a = b = 0
        for slot in self._live():
            for code, count in slot.codes.items():
                if start_a <= code < end_a:
                    a += count
                if start_b <= code < end_b:
                    b += count
        return a / b if b else 0.0

    def latency_at_quantile_ms(self, quantile: float) -> int:
        """Latency at percentile ``quantile`` in whole milliseconds (truncated, as oxy)."""
        return self.histogram.value_at_quantile(quantile, self.now_ns) // 1000


class RatioController:
    """oxy's ``ratioController``: lets through a share of requests growing linearly from 0 to 0.5 and beyond."""

    __slots__ = ("allowed", "denied", "duration_ns", "start_ns")

    def __init__(self, duration_ns: int, now_ns: int) -> None:
        self.duration_ns = max(duration_ns, 1)
        self.start_ns = now_ns
        self.allowed = 0
        self.denied = 0

    def target_ratio(self, now_ns: int) -> float:
        """The share of requests to allow by ``now_ns``: ``0.5 * elapsed / duration``."""
        return 0.5 * (now_ns - self.start_ns) / self.duration_ns

    def allow_request(self, now_ns: int) -> bool:
        """Return True (and count it) when allowing one more request keeps the ratio under the target."""
        if (self.allowed + 1) / (self.allowed + 1 + self.denied) < self.target_ratio(now_ns):
            self.allowed += 1
            return True
        self.denied += 1
        return False


class Breaker:
    """The standby → tripped → recovering → standby machine. Durations are in nanoseconds."""

    __slots__ = (
        "check_period_ns",
        "condition",
        "fallback_ns",
        "last_check_ns",
        "metrics",
        "ratio",
        "recovery_ns",
        "state",
        "until_ns",
    )

    def __init__(
        self,
        condition: Callable[[RollingMetrics], bool],
        check_period_ns: int,
        fallback_ns: int,
        recovery_ns: int,
    ) -> None:
        self.condition = condition
        self.check_period_ns = check_period_ns
        self.fallback_ns = fallback_ns
        self.recovery_ns = recovery_ns
        self.metrics = RollingMetrics()
        self.state = STANDBY
        self.until_ns = 0
        self.last_check_ns: int | None = None
        self.ratio: RatioController | None = None

    def allow(self, now_ns: int) -> bool:
        """Return True when the request may go to the next handler, False for the fallback (may change state)."""
        state = self.state
        if state == STANDBY:
            return True
        if state == TRIPPED:
            if now_ns < self.until_ns:
                return False
            self.state = RECOVERING
            self.until_ns = now_ns + self.recovery_ns
            self.ratio = RatioController(self.recovery_ns, now_ns)
        if now_ns > self.until_ns:
            self.state = STANDBY
            self.until_ns = now_ns
            self.ratio = None
            return True
        ratio = self.ratio
        return ratio is not None and ratio.allow_request(now_ns)

    def record(self, status: int, latency_ns: int, now_ns: int) -> None:
        """Record a response of the next handler, then check the condition if a check period has passed."""
        self.metrics.record(status, latency_ns, now_ns)
        self.check(now_ns)

    def check(self, now_ns: int) -> None:
        """Evaluate the condition (at most once per check period) and trip when it holds."""
        last = self.last_check_ns
        if last is not None and now_ns <= last:
            return
        self.last_check_ns = now_ns + self.check_period_ns
        if self.state == TRIPPED:
            return
        metrics = self.metrics
        metrics.now_ns = now_ns
        if not self.condition(metrics):
            return
        self.state = TRIPPED
        self.until_ns = now_ns + self.fallback_ns
        self.ratio = None
        metrics.reset()
