"""``ipStrategy`` and ``sourceCriterion``: the tables of Traefik's docs (Appendix A) and its configuration errors."""

from __future__ import annotations

from typing import Any

import pytest

from hanzo_edge.config.middlewares import IPStrategy, SourceCriterion
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request
from hanzo_edge.middlewares._source import ip_strategy, ipv6_subnet_ip, source_extractor

XFF4 = "10.0.0.1,11.0.0.1,12.0.0.1,13.0.0.1"


def _req(xff: str | None = None, client_ip: str = "127.0.0.1", host: str = "app.test", **headers: str) -> Request:
    raw = [(b"Host", host.encode())]
    if xff is not None:
        raw.append((b"X-Forwarded-For", xff.encode()))
    raw += [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]
    return Request("GET", "/", Headers(raw), host=host, client_ip=client_ip)


@pytest.mark.parametrize(
    ("strategy", "xff", "client_ip", "expected"),
    [
        pytest.param(None, XFF4, "9.9.9.9", "9.9.9.9", id="none-socket-address-ignores-xff"),
        pytest.param(IPStrategy(), XFF4, "9.9.9.9", "9.9.9.9", id="empty-socket-address"),
        pytest.param(IPStrategy(depth=1), XFF4, "9.9.9.9", "13.0.0.1", id="depth-1"),
        pytest.param(IPStrategy(depth=3), XFF4, "9.9.9.9", "11.0.0.1", id="depth-3"),
        pytest.param(IPStrategy(depth=5), XFF4, "9.9.9.9", "", id="depth-too-deep"),
        pytest.param(IPStrategy(depth=1), None, "9.9.9.9", "", id="depth-no-header"),
        pytest.param(IPStrategy(depth=2, excluded_ips=("12.0.0.1",)), XFF4, "9", "12.0.0.1", id="depth-wins"),
        pytest.param(IPStrategy(excluded_ips=("12.0.0.1", "13.0.0.1")), XFF4, "9", "11.0.0.1", id="excluded-12-13"),
        pytest.param(IPStrategy(excluded_ips=("15.0.0.1", "13.0.0.1")), XFF4, "9", "12.0.0.1", id="excluded-15-13"),
        pytest.param(IPStrategy(excluded_ips=("10.0.0.1", "13.0.0.1")), XFF4, "9", "12.0.0.1", id="excluded-10-13"),
        pytest.param(IPStrategy(excluded_ips=("15.0.0.1", "16.0.0.1")), XFF4, "9", "13.0.0.1", id="excluded-none"),
        pytest.param(
            IPStrategy(excluded_ips=("10.0.0.1", "11.0.0.1")), "10.0.0.1,11.0.0.1", "9", "", id="excluded-all"
        ),
        pytest.param(IPStrategy(excluded_ips=("12.0.0.0/8", "13.0.0.0/8")), XFF4, "9", "11.0.0.1", id="excluded-cidr"),
        pytest.param(
            IPStrategy(excluded_ips=("12.0.0.1",)), " 10.0.0.3 , 11.0.0.1 ,12.0.0.1", "9", "11.0.0.1", id="ws"
        ),
        pytest.param(IPStrategy(ipv6_subnet=64), None, "::abcd:1111:2222:3333", "::", id="v6-64"),
        pytest.param(IPStrategy(ipv6_subnet=80), None, "::abcd:1111:2222:3333", "::abcd:0:0:0", id="v6-80"),
        pytest.param(IPStrategy(ipv6_subnet=96), None, "::abcd:1111:2222:3333", "::abcd:1111:0:0", id="v6-96"),
        pytest.param(IPStrategy(ipv6_subnet=64), None, "10.1.2.3", "10.1.2.3", id="v6-subnet-leaves-v4"),
        pytest.param(IPStrategy(depth=1, ipv6_subnet=32), "2001:db8:1:2::5", "9", "2001:db8::", id="depth-v6-subnet"),
    ],
)
def test_ip_strategy_selects_the_client_ip(strategy: Any, xff: str | None, client_ip: str, expected: str) -> None:
    assert ip_strategy(strategy)(_req(xff, client_ip)) == expected


@pytest.mark.parametrize(
    ("ip", "bits", "expected"),
    [
        pytest.param("::ffff:1.2.3.4", 64, "::ffff:1.2.3.4", id="v4-mapped-unchanged"),
        pytest.param("fe80::1%eth0", 64, "fe80::1%eth0", id="zone-unchanged"),
        pytest.param("not-an-ip", 64, "not-an-ip", id="garbage-unchanged"),
        pytest.param("2001:db8::1", 128, "2001:db8::1", id="full-length"),
    ],
)
def test_ipv6_subnet_edge_cases(ip: str, bits: int, expected: str) -> None:
    assert ipv6_subnet_ip(ip, bits) == expected


@pytest.mark.parametrize(
    ("strategy", "message"),
    [
        pytest.param(IPStrategy(excluded_ips=("nope",)), "parsing CIDR trusted IPs nope", id="bad-excluded"),
        pytest.param(IPStrategy(ipv6_subnet=0), "invalid IPv6 subnet 0 value", id="subnet-0"),
        pytest.param(IPStrategy(ipv6_subnet=129), "invalid IPv6 subnet 129 value", id="subnet-129"),
    ],
)
def test_invalid_ip_strategy_is_a_config_error(strategy: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ip_strategy(strategy)


@pytest.mark.parametrize(
    ("criterion", "default", "expected"),
    [
        pytest.param(None, "ip", "9.9.9.9", id="default-ip"),
        pytest.param(None, "host", "app.test", id="default-host"),
        pytest.param(SourceCriterion(), "host", "app.test", id="empty-uses-default"),
        pytest.param(SourceCriterion(request_host=True), "ip", "app.test", id="request-host"),
        pytest.param(SourceCriterion(request_header_name="X-User"), "ip", "alice", id="header"),
        pytest.param(SourceCriterion(request_header_name="X-Missing"), "ip", "", id="missing-header-empty"),
        pytest.param(SourceCriterion(ip_strategy=IPStrategy(depth=1)), "host", "13.0.0.1", id="ip-strategy"),
    ],
)
def test_source_criterion(criterion: Any, default: str, expected: str) -> None:
    req = _req(XFF4, "9.9.9.9", X_User="alice")
    assert source_extractor(criterion, default)(req) == expected


@pytest.mark.parametrize(
    ("criterion", "message"),
    [
        pytest.param(
            SourceCriterion(ip_strategy=IPStrategy(), request_header_name="Foo"),
            "iPStrategy and RequestHeaderName are mutually exclusive",
            id="ip+header",
        ),
        pytest.param(
            SourceCriterion(ip_strategy=IPStrategy(), request_host=True),
            "iPStrategy and RequestHost are mutually exclusive",
            id="ip+host",
        ),
        pytest.param(
            SourceCriterion(request_header_name="Foo", request_host=True),
            "requestHost and RequestHeaderName are mutually exclusive",
            id="header+host",
        ),
    ],
)
def test_source_criteria_are_mutually_exclusive(criterion: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        source_extractor(criterion)
