"""The circuit breaker expression language: valid and invalid expressions, and a parser that only raises ValueError."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hanzo_edge.middlewares._breaker_expr import MAX_NESTING, parse_expression


@dataclass
class FakeMetrics:
    net: float = 0.0
    ratios: dict[tuple[int, int, int, int], float] = field(default_factory=dict)
    latencies: dict[float, int] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def network_error_ratio(self) -> float:
        self.calls.append("net")
        return self.net

    def response_code_ratio(self, start_a: int, end_a: int, start_b: int, end_b: int) -> float:
        self.calls.append("codes")
        return self.ratios.get((start_a, end_a, start_b, end_b), 0.0)

    def latency_at_quantile_ms(self, quantile: float) -> int:
        self.calls.append("latency")
        return self.latencies.get(quantile, 0)


M_NET = FakeMetrics(net=0.6)
M_5XX = FakeMetrics(ratios={(500, 600, 0, 600): 0.3})
M_SLOW = FakeMetrics(latencies={50.0: 120, 99.9: 900})


@pytest.mark.parametrize(
    ("expression", "metrics", "expected"),
    [
        pytest.param("NetworkErrorRatio() > 0.5", M_NET, True, id="net-above"),
        pytest.param("NetworkErrorRatio() > 0.6", M_NET, False, id="net-strict"),
        pytest.param("NetworkErrorRatio() >= 0.6", M_NET, True, id="net-ge"),
        pytest.param("NetworkErrorRatio() < 0.7", M_NET, True, id="lt"),
        pytest.param("NetworkErrorRatio() <= 0.5", M_NET, False, id="le"),
        pytest.param("NetworkErrorRatio() == 0.6", M_NET, True, id="eq"),
        pytest.param("NetworkErrorRatio() != 0.6", M_NET, False, id="ne"),
        pytest.param("ResponseCodeRatio(500, 600, 0, 600) > 0.25", M_5XX, True, id="docs-5xx"),
        pytest.param("ResponseCodeRatio(500,600,0,600)>0.5", M_5XX, False, id="no-spaces"),
        pytest.param("LatencyAtQuantileMS(50.0) > 100", M_SLOW, True, id="docs-latency"),
        pytest.param("LatencyAtQuantileMS(99.9) > 1000", M_SLOW, False, id="p999"),
        pytest.param("LatencyAtQuantileMS(50) > 100.5", M_SLOW, True, id="int-quantile-float-threshold"),
        pytest.param("NetworkErrorRatio() > 1", M_NET, False, id="int-threshold-for-ratio"),
        pytest.param("0.5 < NetworkErrorRatio()", M_NET, True, id="metric-on-the-right"),
        pytest.param("NetworkErrorRatio() > -1", FakeMetrics(), True, id="negative-literal"),
        pytest.param("NetworkErrorRatio() > 5e-1", M_NET, True, id="exponent"),
        pytest.param("NetworkErrorRatio() > .5", M_NET, True, id="leading-dot"),
        pytest.param(
            "NetworkErrorRatio() > 0.5 && LatencyAtQuantileMS(50.0) > 100", FakeMetrics(net=0.6), False, id="and"
        ),
        pytest.param("NetworkErrorRatio() > 0.5 || LatencyAtQuantileMS(50.0) > 100", M_SLOW, True, id="or"),
        pytest.param("1 > 2 && 1 > 2 || 2 > 1", FakeMetrics(), True, id="and-binds-tighter"),
        pytest.param("1 > 2 && (1 > 2 || 2 > 1)", FakeMetrics(), False, id="parentheses"),
        pytest.param("((NetworkErrorRatio() > 0.5))", M_NET, True, id="nested-parentheses"),
        pytest.param("(NetworkErrorRatio()) > 0.5", M_NET, True, id="parenthesised-operand"),
        pytest.param("\tNetworkErrorRatio()\n>\r0.5 ", M_NET, True, id="whitespace"),
    ],
)
def test_valid_expressions(expression: str, metrics: FakeMetrics, expected: bool) -> None:
    assert parse_expression(expression)(metrics) is expected


def test_or_short_circuits() -> None:
    metrics = FakeMetrics(net=1.0)
    assert parse_expression("NetworkErrorRatio() > 0.5 || LatencyAtQuantileMS(50.0) > 1")(metrics)
    assert metrics.calls == ["net"]


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        pytest.param("", "empty circuit breaker expression", id="empty"),
        pytest.param("   ", "empty circuit breaker expression", id="blank"),
        pytest.param("NetworkErrorRatio()", "is a number, not a condition", id="no-comparison"),
        pytest.param("0.5", "is a number, not a condition", id="bare-number"),
        pytest.param("NetworkErrorRatio() >", "expected a number, a metric or '(' at position 21", id="dangling-op"),
        pytest.param("NetworkErrorRatio() > 0.5 &&", "found the end of the expression", id="dangling-and"),
        pytest.param("NetworkErrorRatio() > 0.5 extra", "unexpected 'extra' at position 26", id="trailing"),
        pytest.param("NetworkErrorRatio > 0.5", "expected '(' after NetworkErrorRatio", id="no-call"),
        pytest.param("NetworkErrorRatio(1) > 0.5", "takes no arguments", id="net-args"),
        pytest.param("Foo() > 1", "unknown function 'Foo' at position 0", id="unknown-fn"),
        pytest.param("networkErrorRatio() > 1", "unknown function 'networkErrorRatio'", id="case-sensitive"),
        pytest.param("ResponseCodeRatio(500, 600, 0) > 0.5", "takes four integers", id="codes-arity"),
        pytest.param("ResponseCodeRatio(500.0, 600, 0, 600) > 0.5", "takes four integers", id="codes-float"),
        pytest.param(
            "ResponseCodeRatio(500, NetworkErrorRatio(), 0, 600) > 0.5", "must be number literals", id="codes-nested"
        ),
        pytest.param("LatencyAtQuantileMS() > 1", "takes one quantile", id="latency-arity"),
        pytest.param("LatencyAtQuantileMS(100.5) > 1", "between 0 and 100", id="quantile-range"),
        pytest.param("LatencyAtQuantileMS(-1.0) > 1", "between 0 and 100", id="quantile-negative"),
        pytest.param("1 > 2 > 3", "cannot be chained", id="chained"),
        pytest.param("(1 > 2) > 3", "compares numbers, not conditions", id="compare-conditions"),
        pytest.param("1 && 2 > 1", "needs conditions on both sides", id="and-number"),
        pytest.param("NetworkErrorRatio() > 0.5 & 1 > 0", "unexpected character '&'", id="single-amp"),
        pytest.param("NetworkErrorRatio() = 0.5", "unexpected character '='", id="single-eq"),
        pytest.param("!(1 > 2)", "unexpected character '!'", id="not"),
        pytest.param("(1 > 2", "expected ')'", id="unclosed"),
        pytest.param("1 > 2)", "unexpected ')'", id="unopened"),
        pytest.param("- - 1 > 2", "expected a number after '-'", id="double-minus"),
        pytest.param("1 > 0.5.3", "unexpected '.3'", id="bad-number"),
        pytest.param("(" * (MAX_NESTING + 1) + "1 > 2" + ")" * (MAX_NESTING + 1), "nested deeper", id="too-deep"),
        pytest.param("1 > 2 || " * 500 + "1 > 2", "longer than", id="too-long"),
        pytest.param("NetworkErrorRatio() > 0.5 ∧ 1 > 0", "unexpected character '∧'", id="unicode"),
    ],
)
def test_invalid_expressions_raise_value_error(expression: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_expression(expression)


def test_errors_quote_the_expression() -> None:
    with pytest.raises(ValueError, match=r"^invalid circuit breaker expression 'Foo\(\) > 1': unknown function"):
        parse_expression("Foo() > 1")


ALPHABET = [
    "NetworkErrorRatio()",
    "ResponseCodeRatio(500, 600, 0, 600)",
    "LatencyAtQuantileMS(50.0)",
    "ResponseCodeRatio(",
    "LatencyAtQuantileMS(",
    "0.5",
    "100",
    "-",
    "1e309",
    "9" * 400,
    "&&",
    "||",
    "<",
    "<=",
    ">",
    ">=",
    "==",
    "!=",
    "(",
    ")",
    ",",
    " ",
    "x",
    "!",
    ".",
]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_parser_only_raises_value_error_on_any_text(text: str) -> None:
    try:
        parse_expression(text)
    except ValueError:
        pass


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(ALPHABET), max_size=40))
def test_parser_only_raises_value_error_on_token_soup(parts: list[str]) -> None:
    text = " ".join(parts)
    try:
        expression = parse_expression(text)
    except ValueError:
        return
    # Whatever parses evaluates to a bool without error.
    assert expression(FakeMetrics(net=0.5, latencies={50.0: 100})) in (True, False)
