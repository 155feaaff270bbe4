"""Token buckets with Traefik's parameters (``golang.org/x/time/rate`` Reserve/Cancel), driven by a fake clock."""

from __future__ import annotations

import math

import pytest

from hanzo_edge.middlewares._token_bucket import BucketStore, RateParams, TokenBucket, go_duration, retry_after

MS = 1_000_000
S = 1_000_000_000


@pytest.mark.parametrize(
    ("average", "period", "burst", "expected"),
    [
        # Traefik's rate_limiter_test "maxDelay computation" cases.
        pytest.param(200, 1.0, 10, RateParams(200.0, 10, S // 400, 2), id="200/s-maxdelay-2.5ms"),
        pytest.param(5, 0.0, 10, RateParams(5.0, 10, 100 * MS, 2), id="period-0-is-1s"),
        pytest.param(2, 10.0, 10, RateParams(0.2, 10, 500 * MS, 6), id="below-1/s-500ms-ttl-1+1/rate"),
        pytest.param(3, 2.0, 1, RateParams(1.5, 1, 500 * MS, 2), id="int-truncated-rate-for-maxdelay"),
        pytest.param(100, 60.0, 0, RateParams(100 / 60, 1, 500 * MS, 2), id="burst-0-is-1"),
        pytest.param(1, 3600.0, 5, RateParams(1 / 3600, 5, 500 * MS, 3601), id="one-per-hour"),
        pytest.param(0, 1.0, 1, RateParams(math.inf, 1, 0, 1), id="average-0-unlimited"),
        pytest.param(-5, 1.0, 1, RateParams(math.inf, 1, 0, 1), id="negative-average-unlimited"),
    ],
)
def test_rate_params_follow_traefik(average: int, period: float, burst: int, expected: RateParams) -> None:
    got = RateParams.from_config(average, period, burst)
    assert got == expected
    assert got.unlimited == math.isinf(expected.rate)


def test_negative_period_is_a_config_error() -> None:
    with pytest.raises(ValueError, match=r"negative value not valid for period: -1s"):
        RateParams.from_config(10, -1.0, 1)


# (time in ms, expected wait in ms); waits above maxDelay are cancelled (the token is given back).
SEQUENCES = [
    pytest.param(
        (10, 1.0, 1),
        [(0, 0), (0, 100), (50, 50), (50, 150), (100, 100), (200, 0)],
        id="10/s-burst-1",
    ),
    pytest.param(
        (10, 1.0, 3),
        [(0, 0), (0, 0), (0, 0), (0, 100), (100, 0), (100, 100), (1000, 0), (1000, 0), (1000, 0), (1000, 100)],
        id="10/s-burst-3-refills-to-burst-only",
    ),
    pytest.param(
        (1, 1.0, 1),
        [(0, 0), (500, 500), (500, 1500), (1000, 1000), (1500, 500), (1500, 1500), (2000, 1000), (2500, 500)],
        id="1/s-maxdelay-500ms",
    ),
    pytest.param(
        (2, 10.0, 1),
        [(0, 0), (4500, 500), (4500, 5500), (5000, 5000), (10_000, 0)],
        id="0.2/s-waits-up-to-500ms",
    ),
    pytest.param(
        (1000, 1.0, 1),
        [(0, 0), (0, 1), (0, 1)],
        id="1000/s-maxdelay-500us",
    ),
]


@pytest.mark.parametrize(("config", "steps"), SEQUENCES)
def test_bucket_sequences_exact_waits(config: tuple[int, float, int], steps: list[tuple[int, int]]) -> None:
    params = RateParams.from_config(*config)
    store = BucketStore(params)
    waits = [round(store.reserve("src", t * MS) / MS) for t, _ in steps]
    assert waits == [w for _, w in steps]


def test_delayed_reservation_is_kept_and_rejected_one_is_cancelled() -> None:
    bucket = TokenBucket(1, 0)
    assert bucket.reserve(0, 10.0, 1, 50 * MS) == 0
    assert bucket.tokens == 0
    # 40ms later: 0.4 tokens, -0.6 after the reservation → 60ms > 50ms: cancelled, tokens back to 0.4.
    assert bucket.reserve(40 * MS, 10.0, 1, 50 * MS) == 60 * MS
    assert bucket.tokens == pytest.approx(0.4)
    # 10ms more: 0.5 → -0.5, a 50ms wait: kept, the bucket is in debt.
    assert bucket.reserve(50 * MS, 10.0, 1, 50 * MS) == 50 * MS
    assert bucket.tokens == pytest.approx(-0.5)


def test_clock_going_backwards_adds_no_tokens() -> None:
    bucket = TokenBucket(1, 10 * S)
    assert bucket.reserve(10 * S, 1.0, 1, 500 * MS) == 0
    assert bucket.reserve(9 * S, 1.0, 1, 500 * MS) == S  # no refill from the past
    assert bucket.last == 9 * S


def test_sources_have_separate_buckets() -> None:
    store = BucketStore(RateParams.from_config(1, 1.0, 1))
    assert store.reserve("a", 0) == 0
    assert store.reserve("b", 0) == 0
    assert store.reserve("a", 0) == S
    assert store.reserve("b", 0) == S


def test_idle_bucket_expires_after_ttl_and_restarts_full() -> None:
    store = BucketStore(RateParams.from_config(1, 1.0, 100))  # ttl 2s even though refilling 100 tokens takes 100s
    for _ in range(100):
        assert store.reserve("a", 0) == 0
    assert store.reserve("a", 0) == S
    assert store.reserve("a", 2 * S) == 0  # within the TTL: refilled by 2 tokens only
    assert "a" in store
    assert store.reserve("z", 5 * S) == 0  # "a" idle for 3s > 2s: pruned
    assert "a" not in store
    for _ in range(100):
        assert store.reserve("a", 5 * S) == 0


def test_store_is_bounded_least_recently_used_first() -> None:
    store = BucketStore(RateParams.from_config(1, 1.0, 1), max_sources=2)
    store.reserve("a", 0)
    store.reserve("b", 0)
    store.reserve("a", 1)  # a is now the most recent
    store.reserve("c", 2)
    assert len(store) == 2
    assert "b" not in store
    assert "a" in store
    assert "c" in store


def test_unlimited_store_keeps_no_state() -> None:
    store = BucketStore(RateParams.from_config(0, 1.0, 1))
    assert all(store.reserve("a", 0) == 0 for _ in range(1000))
    assert len(store) == 0


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        pytest.param(0, "0s", id="zero"),
        pytest.param(1, "1ns", id="ns"),
        pytest.param(999, "999ns", id="999ns"),
        pytest.param(1_000, "1µs", id="us"),
        pytest.param(1_500, "1.5µs", id="1.5us"),
        pytest.param(500_000, "500µs", id="500us"),
        pytest.param(1_000_000, "1ms", id="ms"),
        pytest.param(1_234_567, "1.234567ms", id="ms-fraction"),
        pytest.param(100 * MS, "100ms", id="100ms"),
        pytest.param(999_999_999, "999.999999ms", id="just-under-1s"),
        pytest.param(S, "1s", id="1s"),
        pytest.param(1_500_000_000, "1.5s", id="1.5s"),
        pytest.param(59_999_999_999, "59.999999999s", id="just-under-1m"),
        pytest.param(60 * S, "1m0s", id="1m"),
        pytest.param(61_500_000_000, "1m1.5s", id="1m1.5s"),
        pytest.param(3600 * S, "1h0m0s", id="1h"),
        pytest.param(90061 * S + 1, "25h1m1.000000001s", id="25h"),
        pytest.param(-1_500_000_000, "-1.5s", id="negative"),
    ],
)
def test_go_duration_matches_go_string(ns: int, text: str) -> None:
    assert go_duration(ns) == text


@pytest.mark.parametrize(
    ("ns", "header"),
    [
        pytest.param(0, "0", id="zero"),
        pytest.param(1, "1", id="1ns-rounds-up"),
        pytest.param(600 * MS, "1", id="600ms"),
        pytest.param(S, "1", id="exactly-1s"),
        pytest.param(S + 1, "2", id="just-over-1s"),
        pytest.param(1_500_000_000, "2", id="1.5s"),
        pytest.param(3600 * S, "3600", id="1h"),
    ],
)
def test_retry_after_is_whole_seconds_rounded_up(ns: int, header: str) -> None:
    assert retry_after(ns) == header
