from __future__ import annotations

import pytest

from hanzo_edge.config.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(10, 10.0, id="int is seconds"),
        pytest.param(1.5, 1.5, id="float is seconds"),
        pytest.param("42", 42.0, id="numeric string is seconds"),
        pytest.param("0.25", 0.25, id="fractional numeric string"),
        pytest.param("0", 0.0, id="zero"),
        pytest.param("1h2m3.5s", 3723.5, id="compound"),
        pytest.param("100ms", 0.1, id="milliseconds"),
        pytest.param("10us", 10e-6, id="microseconds us"),
        pytest.param("10\u00b5s", 10e-6, id="microseconds micro sign"),
        pytest.param("10\u03bcs", 10e-6, id="microseconds greek mu"),
        pytest.param("5ns", 5e-9, id="nanoseconds"),
        pytest.param("-1s", -1.0, id="negative"),
        pytest.param("+2m", 120.0, id="explicit plus"),
        pytest.param(".5s", 0.5, id="leading dot"),
        pytest.param(" 3s ", 3.0, id="surrounding spaces"),
    ],
)
def test_parse_duration(value: str | int | float, expected: float) -> None:
    assert parse_duration(value) == pytest.approx(expected)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("abc", id="word"),
        pytest.param("", id="empty"),
        pytest.param("1d", id="unknown unit"),
        pytest.param("s", id="unit only"),
        pytest.param("-", id="sign only"),
        pytest.param("1.2.3s", id="two dots"),
        pytest.param("10 s", id="inner space"),
        pytest.param(True, id="bool"),
        pytest.param(float("nan"), id="nan"),
    ],
)
def test_parse_duration_rejects(value: str | float) -> None:
    with pytest.raises(ValueError, match=r"^invalid duration \""):
        parse_duration(value)


def test_error_message_quotes_value() -> None:
    with pytest.raises(ValueError) as info:
        parse_duration("abc")
    assert str(info.value) == 'invalid duration "abc"'


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        pytest.param(0, "0s", id="zero"),
        pytest.param(0.1, "100ms", id="ms"),
        pytest.param(90, "1m30s", id="minutes and seconds"),
        pytest.param(7200, "2h", id="hours"),
        pytest.param(-1.5, "-1.5s", id="negative"),
    ],
)
def test_format_duration_round_trips(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == pytest.approx(seconds)
