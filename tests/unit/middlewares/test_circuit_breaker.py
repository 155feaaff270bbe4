"""``circuitBreaker``: state transitions over every (state, input), rolling metrics, and the middleware."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from fakes import FakeClock
from hanzo_edge.config.dynamic import decode_dynamic
from hanzo_edge.http.errors import ConnectError, NoAvailableServer, UpstreamTimeout
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.middlewares._breaker import (
    RECOVERING,
    STANDBY,
    TRIPPED,
    Breaker,
    LatencyHistogram,
    RatioController,
    RollingMetrics,
)
from hanzo_edge.middlewares.base import BuildContext, factory_for
from hanzo_edge.middlewares.circuit_breaker import CircuitBreaker

MS = 1_000_000
S = 1_000_000_000


class Condition:
    """A stand-in expression whose truth the test sets."""

    def __init__(self) -> None:
        self.value = False
        self.evaluations = 0

    def __call__(self, metrics: RollingMetrics) -> bool:
        self.evaluations += 1
        return self.value


def _breaker(state: str = STANDBY, now: int = 100 * S) -> tuple[Breaker, Condition]:
    """A breaker (check 100ms, fallback 10s, recovery 10s) put in ``state`` at ``now``."""
    condition = Condition()
    breaker = Breaker(condition, 100 * MS, 10 * S, 10 * S)
    if state != STANDBY:
        condition.value = True
        breaker.record(500, MS, now)
        condition.value = False
        assert breaker.state == TRIPPED
    if state == RECOVERING:
        assert breaker.allow(now + 10 * S) is False  # enters recovery (ratio starts at 0)
        assert breaker.state == RECOVERING
    return breaker, condition


T0 = 100 * S

# (start state, action, argument, condition value) → (allowed or None, end state)
TRANSITIONS = [
    pytest.param(STANDBY, "allow", T0 + MS, False, (True, STANDBY), id="standby-allow"),
    pytest.param(STANDBY, "record", T0 + MS, False, (None, STANDBY), id="standby-record-condition-false"),
    pytest.param(STANDBY, "record", T0 + MS, True, (None, TRIPPED), id="standby-record-condition-true-trips"),
    pytest.param(TRIPPED, "allow", T0 + 5 * S, False, (False, TRIPPED), id="tripped-allow-before-deadline"),
    pytest.param(TRIPPED, "allow", T0 + 10 * S, False, (False, RECOVERING), id="tripped-allow-at-deadline-recovers"),
    # oxy always goes through recovery, however late the request (the ratio starts at 0: refused).
    pytest.param(TRIPPED, "allow", T0 + 30 * S, False, (False, RECOVERING), id="tripped-allow-long-after-recovers"),
    pytest.param(TRIPPED, "record", T0 + 5 * S, True, (None, TRIPPED), id="tripped-record-stays"),
    # One refusal so far (entering recovery): allowing now would make the ratio 1/2, above 0.25 then 0.5.
    pytest.param(RECOVERING, "allow", T0 + 15 * S, False, (False, RECOVERING), id="recovering-allow-midway"),
    pytest.param(RECOVERING, "allow", T0 + 20 * S, False, (False, RECOVERING), id="recovering-at-deadline"),
    pytest.param(RECOVERING, "allow", T0 + 20 * S + 1, False, (True, STANDBY), id="recovering-after-deadline"),
    pytest.param(RECOVERING, "record", T0 + 15 * S, True, (None, TRIPPED), id="recovering-record-true-trips"),
    pytest.param(RECOVERING, "record", T0 + 15 * S, False, (None, RECOVERING), id="recovering-record-false"),
]


@pytest.mark.parametrize(("state", "action", "now", "condition_value", "expected"), TRANSITIONS)
def test_breaker_transitions(
    state: str, action: str, now: int, condition_value: bool, expected: tuple[bool | None, str]
) -> None:
    breaker, condition = _breaker(state, T0)
    condition.value = condition_value
    result: bool | None = None
    if action == "allow":
        result = breaker.allow(now)
    else:
        breaker.record(500, MS, now)
    assert (result, breaker.state) == expected


def test_trip_sets_deadline_and_resets_metrics() -> None:
    breaker, condition = _breaker()
    breaker.record(502, MS, T0)
    breaker.metrics.now_ns = T0
    assert breaker.metrics.total() == 1
    condition.value = True
    breaker.record(502, MS, T0 + 200 * MS)
    assert breaker.state == TRIPPED
    assert breaker.until_ns == T0 + 200 * MS + 10 * S
    breaker.metrics.now_ns = T0 + 200 * MS
    assert breaker.metrics.total() == 0


def test_condition_checked_at_most_once_per_check_period() -> None:
    breaker, condition = _breaker()
    breaker.record(200, MS, T0)  # first check: immediately
    assert condition.evaluations == 1
    breaker.record(200, MS, T0 + 50 * MS)
    breaker.record(200, MS, T0 + 100 * MS)  # not after lastCheck (T0 + 100ms) yet
    assert condition.evaluations == 1
    breaker.record(200, MS, T0 + 100 * MS + 1)
    assert condition.evaluations == 2


def test_no_checks_while_tripped_but_the_period_still_advances() -> None:
    breaker, condition = _breaker(TRIPPED, T0)
    evaluations = condition.evaluations
    breaker.record(500, MS, T0 + 5 * S)
    assert condition.evaluations == evaluations
    assert breaker.last_check_ns == T0 + 5 * S + 100 * MS


def test_recovery_lets_a_linearly_growing_share_through() -> None:
    breaker, _ = _breaker(RECOVERING, T0)
    start = T0 + 10 * S
    shares = []
    for second in range(1, 10):
        allowed = sum(breaker.allow(start + second * S + i * MS) for i in range(100))
        shares.append(allowed)
    # The cumulative share allowed follows the target 0.5 * elapsed / 10s, so later seconds let more through.
    assert shares == sorted(shares)
    assert shares[0] <= 10
    ratio = breaker.ratio
    assert ratio is not None
    assert 0.40 <= ratio.allowed / (ratio.allowed + ratio.denied) <= 0.455  # target at 9.099s: 0.4549
    assert breaker.state == RECOVERING
    assert breaker.allow(start + 10 * S + 1) is True
    assert breaker.state == STANDBY


@pytest.mark.parametrize(
    ("elapsed", "sequence"),
    [
        pytest.param(0, [False, False, False], id="start-denies"),
        pytest.param(5 * S, [False, False, False, False, True, False], id="half-way-target-0.25"),
        pytest.param(10 * S, [False, False, True, False, True, False, True], id="end-target-0.5"),
    ],
)
def test_ratio_controller_sequences(elapsed: int, sequence: list[bool]) -> None:
    ratio = RatioController(10 * S, 0)
    assert [ratio.allow_request(elapsed) for _ in sequence] == sequence


def test_metrics_ratios_over_a_ten_second_window() -> None:
    metrics = RollingMetrics()
    for status in (200, 200, 502, 504, 500, 503, 404, 200):
        metrics.record(status, MS, 0)
    metrics.now_ns = 0
    assert metrics.total() == 8
    assert metrics.network_error_ratio() == pytest.approx(2 / 8)
    assert metrics.response_code_ratio(500, 600, 0, 600) == pytest.approx(4 / 8)
    assert metrics.response_code_ratio(500, 600, 200, 300) == pytest.approx(4 / 3)
    assert metrics.response_code_ratio(500, 600, 300, 400) == 0.0
    metrics.record(200, MS, 5 * S)
    metrics.now_ns = 9 * S + 999 * MS  # still inside the 10 buckets of 1s
    assert metrics.total() == 9
    metrics.now_ns = 10 * S  # the first second has rolled out
    assert metrics.total() == 1
    assert metrics.network_error_ratio() == 0.0
    metrics.now_ns = 15 * S
    assert metrics.total() == 0
    assert metrics.response_code_ratio(500, 600, 0, 600) == 0.0


def test_latency_quantiles_over_a_sixty_second_window() -> None:
    histogram = LatencyHistogram()
    for ms in range(1, 101):  # 1..100ms
        histogram.record(ms * 1000, 0)
    assert histogram.value_at_quantile(50.0, 0) // 1000 == 50
    assert histogram.value_at_quantile(99.0, 0) // 1000 == 99
    assert histogram.value_at_quantile(100.0, 0) // 1000 == 100
    assert histogram.value_at_quantile(0.0, 0) == 0
    value = histogram.value_at_quantile(90.0, 0)
    assert 90_000 <= value <= 90_000 * 1.01  # within HDR's 2 significant digits
    assert histogram.value_at_quantile(50.0, 59 * S) // 1000 == 50
    assert histogram.value_at_quantile(50.0, 60 * S) == 0  # six 10s buckets later: gone
    histogram.record(10**13, 60 * S)  # clamped to an hour
    assert 3600 <= histogram.value_at_quantile(50.0, 60 * S) // 1_000_000 <= 3636


def test_metrics_latency_in_whole_milliseconds() -> None:
    metrics = RollingMetrics()
    metrics.record(200, 150 * MS + 999_999, 0)  # 150999µs lands in the bucket [150528, 151551]
    metrics.now_ns = 0
    assert metrics.latency_at_quantile_ms(50.0) == 151  # the bucket's highest value, truncated to ms


# -- the middleware ----------------------------------------------------------------------------------------------------


class Backend:
    """A fake ``next`` answering ``status`` (or raising ``error``) after advancing the clock by ``latency``."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.status = 200
        self.error: BaseException | None = None
        self.latency = 0.001
        self.calls = 0

    async def __call__(self, req: Request) -> Response:
        self.calls += 1
        self.clock.now += self.latency
        if self.error is not None:
            raise self.error
        return Response(self.status, Headers(), b"backend")


def _config(options: dict[str, Any]) -> Any:
    config, errors = decode_dynamic({"http": {"middlewares": {"cb": {"circuitBreaker": options}}}})
    assert not errors, errors
    return config.http.middlewares["cb"].config


def _build(options: dict[str, Any], clock: FakeClock, services: dict[str, Handler] | None = None) -> CircuitBreaker:
    backend = Backend(clock)
    ctx = BuildContext(clock=clock, service=lambda name: (services or {}).get(name))
    return CircuitBreaker(backend, _config(options), name="cb@file", ctx=ctx)


def _req() -> Request:
    return Request("GET", "/", Headers([(b"Host", b"app.test")]), host="app.test")


async def _call(handler: CircuitBreaker) -> tuple[int, bytes] | str:
    try:
        resp = await handler(_req())
    except Exception as exc:
        return type(exc).__name__
    assert isinstance(resp.body, bytes)
    return resp.status, resp.body


def test_registered_under_traefik_name() -> None:
    assert factory_for("circuitBreaker") is CircuitBreaker


def test_trips_on_5xx_ratio_answers_response_code_and_recovers() -> None:
    clock = FakeClock()
    handler = _build({"expression": "ResponseCodeRatio(500, 600, 0, 600) > 0.5", "checkPeriod": "100ms"}, clock)
    backend: Any = handler.next

    async def run() -> list[Any]:
        out: list[Any] = []
        backend.status = 500
        out.append(await _call(handler))  # 500 recorded, ratio 1 → trips at once (first check)
        out.append(await _call(handler))  # open: the fallback
        out.append(handler.breaker.state)
        clock.now += 10  # fallback duration over; the first request enters recovery and is refused (ratio 0)
        backend.status = 200
        out.append(await _call(handler))
        out.append(handler.breaker.state)
        clock.now += 5
        results = [await _call(handler) for _ in range(8)]
        out.append(sorted({r[0] for r in results if isinstance(r, tuple)}))
        clock.now += 5.1
        out.append(await _call(handler))
        out.append(handler.breaker.state)
        return out

    assert asyncio.run(run()) == [
        (500, b"backend"),
        (503, b"Service Unavailable"),
        TRIPPED,
        (503, b"Service Unavailable"),
        RECOVERING,
        [200, 503],
        (200, b"backend"),
        STANDBY,
    ]


def test_fallback_response_code_and_no_content_type() -> None:
    clock = FakeClock()
    handler = _build({"expression": "NetworkErrorRatio() > 0.1", "responseCode": 418}, clock)
    backend: Any = handler.next
    backend.status = 502

    async def run() -> Response:
        await handler(_req())
        return await handler(_req())

    resp = asyncio.run(run())
    assert (resp.status, resp.headers.raw, resp.body) == (418, [], b"I'm a teapot")
    assert backend.calls == 1


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        pytest.param(ConnectError("refused"), "ConnectError", id="connect-502"),
        pytest.param(UpstreamTimeout("slow"), "UpstreamTimeout", id="timeout-504"),
    ],
)
def test_upstream_errors_count_as_network_errors(error: BaseException, expected: str) -> None:
    clock = FakeClock()
    handler = _build({"expression": "NetworkErrorRatio() > 0.5"}, clock)
    backend: Any = handler.next
    backend.error = error

    async def run() -> list[Any]:
        return [await _call(handler), await _call(handler)]

    assert asyncio.run(run()) == [expected, (503, b"Service Unavailable")]


def test_other_failures_are_recorded_with_their_client_status() -> None:
    clock = FakeClock()
    handler = _build({"expression": "ResponseCodeRatio(503, 504, 0, 600) > 0.5"}, clock)
    backend: Any = handler.next
    backend.error = NoAvailableServer()

    async def run() -> list[Any]:
        return [await _call(handler), await _call(handler)]

    assert asyncio.run(run()) == ["NoAvailableServer", (503, b"Service Unavailable")]


def test_latency_expression() -> None:
    clock = FakeClock()
    handler = _build({"expression": "LatencyAtQuantileMS(50.0) > 100"}, clock)
    backend: Any = handler.next

    async def run() -> list[Any]:
        backend.latency = 0.050
        fast = await _call(handler)
        clock.now += 0.2
        backend.latency = 0.300
        slow = [await _call(handler) for _ in range(3)]  # median becomes 300ms at the next check
        return [fast, *slow, await _call(handler)]

    assert asyncio.run(run()) == [(200, b"backend")] * 3 + [(503, b"Service Unavailable")] * 2


def test_fallback_service_answers_while_open() -> None:
    clock = FakeClock()

    async def maintenance(req: Request) -> Response:
        return Response(200, Headers([(b"X-Fallback", b"1")]), b"maintenance page")

    handler = _build(
        {"expression": "NetworkErrorRatio() > 0.5", "fallbackService": "maintenance"},
        clock,
        {"maintenance": maintenance},
    )
    backend: Any = handler.next
    backend.status = 504

    async def run() -> list[Any]:
        return [await _call(handler), await _call(handler)]

    assert asyncio.run(run()) == [(504, b"backend"), (200, b"maintenance page")]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({}, "empty circuit breaker expression", id="no-expression"),
        pytest.param({"expression": "Nope() > 1"}, "unknown function 'Nope'", id="bad-expression"),
        pytest.param({"expression": "NetworkErrorRatio() > 1", "responseCode": 42}, "invalid responseCode 42", id="rc"),
        pytest.param(
            {"expression": "NetworkErrorRatio() > 1", "fallbackService": "gone"},
            'fallback service "gone" does not exist',
            id="missing-fallback-service",
        ),
    ],
)
def test_config_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _build(options, FakeClock())


def test_zero_durations_take_the_defaults() -> None:
    handler = _build({"expression": "NetworkErrorRatio() > 1", "checkPeriod": 0, "fallbackDuration": 0}, FakeClock())
    breaker = handler.breaker
    assert (breaker.check_period_ns, breaker.fallback_ns, breaker.recovery_ns) == (100 * MS, 10 * S, 10 * S)
