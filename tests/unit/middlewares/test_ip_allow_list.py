"""``ipAllowList`` / ``ipWhiteList``: source ranges, IP strategies (the docs' own tables), reject status and body."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hanzo_edge.config.dynamic import decode_dynamic
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response
from hanzo_edge.middlewares._source import SourceExtractor, ip_strategy
from hanzo_edge.middlewares.base import BuildContext, factory_for

XFF = "10.0.0.1,11.0.0.1,12.0.0.1,13.0.0.1"


def _config(options: dict[str, Any], kind: str = "ipAllowList") -> Any:
    config, _ = decode_dynamic({"http": {"middlewares": {"m": {kind: options}}}})
    return config.http.middlewares["m"].config


class Backend:
    def __init__(self) -> None:
        self.seen: list[Request] = []

    async def __call__(self, req: Request) -> Response:
        self.seen.append(req)
        return Response(200, Headers(), b"ok")


def _request(client_ip: str = "127.0.0.1", xff: str | None = None) -> Request:
    raw = [(b"Host", b"a.test")]
    if xff is not None:
        raw.append((b"X-Forwarded-For", xff.encode()))
    return Request("GET", "/", Headers(raw), host="a.test", client_ip=client_ip)


def _strategy(options: dict[str, Any] | None) -> SourceExtractor:
    model = None if options is None else _config({"sourceRange": ["0.0.0.0/0"], "ipStrategy": options}).ip_strategy
    return ip_strategy(model)


@pytest.mark.parametrize(
    ("options", "client_ip", "xff", "expected"),
    [
        pytest.param(None, "127.0.0.1", XFF, "127.0.0.1", id="default-socket-address-never-xff"),
        pytest.param({}, "10.1.1.1", XFF, "10.1.1.1", id="empty-strategy-socket-address"),
        pytest.param({"depth": 1}, "127.0.0.1", XFF, "13.0.0.1", id="depth-1"),
        pytest.param({"depth": 3}, "127.0.0.1", XFF, "11.0.0.1", id="depth-3"),
        pytest.param({"depth": 5}, "127.0.0.1", XFF, "", id="depth-too-deep"),
        pytest.param({"depth": 2}, "127.0.0.1", "1.1.1.1, 2.2.2.2", "1.1.1.1", id="depth-trims-spaces"),
        pytest.param({"depth": 1, "excludedIPs": ["13.0.0.1"]}, "127.0.0.1", XFF, "13.0.0.1", id="depth-wins"),
        pytest.param({"excludedIPs": ["12.0.0.1", "13.0.0.1"]}, "127.0.0.1", XFF, "11.0.0.1", id="excluded-1"),
        pytest.param({"excludedIPs": ["15.0.0.1", "13.0.0.1"]}, "127.0.0.1", XFF, "12.0.0.1", id="excluded-2"),
        pytest.param({"excludedIPs": ["10.0.0.1", "13.0.0.1"]}, "127.0.0.1", XFF, "12.0.0.1", id="excluded-3"),
        pytest.param({"excludedIPs": ["15.0.0.1", "16.0.0.1"]}, "127.0.0.1", XFF, "13.0.0.1", id="excluded-4"),
        pytest.param(
            {"excludedIPs": ["10.0.0.1", "11.0.0.1"]}, "127.0.0.1", "10.0.0.1,11.0.0.1", "", id="all-excluded"
        ),
        pytest.param({"excludedIPs": ["12.0.0.0/8", "13.0.0.0/8"]}, "127.0.0.1", XFF, "11.0.0.1", id="excluded-cidr"),
        pytest.param({"ipv6Subnet": 64}, "::abcd:1111:2222:3333", None, "::", id="v6-64"),
        pytest.param({"ipv6Subnet": 80}, "::abcd:1111:2222:3333", None, "::abcd:0:0:0", id="v6-80"),
        pytest.param({"ipv6Subnet": 96}, "::abcd:1111:2222:3333", None, "::abcd:1111:0:0", id="v6-96"),
        pytest.param({"ipv6Subnet": 64}, "10.0.0.7", None, "10.0.0.7", id="v6-subnet-leaves-v4"),
        pytest.param({"depth": 1, "ipv6Subnet": 64}, "127.0.0.1", "2001:db8::1:2:3:4", "2001:db8::", id="v6-depth"),
    ],
)
def test_ip_strategy(options: dict[str, Any] | None, client_ip: str, xff: str | None, expected: str) -> None:
    assert _strategy(options)(_request(client_ip, xff)) == expected


@pytest.mark.parametrize(
    ("options", "client_ip", "xff", "status"),
    [
        pytest.param({"sourceRange": ["127.0.0.1/32"]}, "127.0.0.1", None, 200, id="v4-exact"),
        pytest.param({"sourceRange": ["127.0.0.1"]}, "127.0.0.1", None, 200, id="v4-address"),
        pytest.param({"sourceRange": ["10.0.0.0/8"]}, "127.0.0.1", None, 403, id="v4-outside"),
        pytest.param({"sourceRange": ["10.0.0.0/8", "127.0.0.0/8"]}, "127.9.9.9", None, 200, id="second-range"),
        pytest.param({"sourceRange": ["2001:db8::/32"]}, "2001:db8::42", None, 200, id="v6-inside"),
        pytest.param({"sourceRange": ["2001:db8::/32"]}, "2001:db9::42", None, 403, id="v6-outside"),
        pytest.param({"sourceRange": ["10.0.0.1"]}, "::ffff:10.0.0.1", None, 200, id="v4-mapped"),
        pytest.param({"sourceRange": ["fe80::1"]}, "fe80::1%eth0", None, 200, id="zone-ignored"),
        pytest.param({"sourceRange": ["10.0.0.0/8"], "rejectStatusCode": 404}, "127.0.0.1", None, 404, id="reject-404"),
        pytest.param({"sourceRange": ["11.0.0.1"], "ipStrategy": {"depth": 3}}, "127.0.0.1", XFF, 200, id="by-depth"),
        pytest.param({"sourceRange": ["11.0.0.1"], "ipStrategy": {"depth": 5}}, "127.0.0.1", XFF, 403, id="too-deep"),
        pytest.param({"sourceRange": ["2001:db8::/64"], "ipStrategy": {"ipv6Subnet": 64}}, "2001:db8::ffff", None, 200,
                     id="by-subnet"),
        pytest.param({"sourceRange": ["0.0.0.0/0"]}, "not-an-ip", None, 403, id="unparsable-peer"),
    ],
)  # fmt: skip
def test_allow_or_reject(options: dict[str, Any], client_ip: str, xff: str | None, status: int) -> None:
    factory = factory_for("ipAllowList")
    assert factory is not None
    backend = Backend()
    handler = factory(backend, _config(options), name="m@file", ctx=BuildContext())
    resp = asyncio.run(handler(_request(client_ip, xff)))  # type: ignore[arg-type]
    assert resp.status == status
    if status == 200:
        assert len(backend.seen) == 1
    else:
        assert backend.seen == []
        assert resp.body == {403: b"Forbidden", 404: b"Not Found"}[status]
        assert resp.headers.get("Content-Type") is None


def test_ip_white_list_is_the_same_middleware() -> None:
    factory = factory_for("ipWhiteList")
    assert factory is not None
    handler = factory(Backend(), _config({"sourceRange": ["10.0.0.0/8"]}, "ipWhiteList"), name="m", ctx=BuildContext())
    resp = asyncio.run(handler(_request("127.0.0.1")))  # type: ignore[arg-type]
    assert (resp.status, resp.body) == (403, b"Forbidden")


@pytest.mark.parametrize(
    ("options", "error"),
    [
        pytest.param({}, "sourceRange is empty, IPAllowLister not created", id="empty"),
        pytest.param({"sourceRange": ["10.0.0.0/33"]}, r"cannot parse CIDRs \[10.0.0.0/33\]: ", id="bad-cidr"),
        pytest.param({"sourceRange": ["foo"]}, r'netip.ParsePrefix\("foo"\): no \'/\'', id="bad-ip"),
        pytest.param({"sourceRange": ["10.0.0.1"], "rejectStatusCode": 999}, "invalid HTTP status code 999", id="999"),
        pytest.param({"sourceRange": ["10.0.0.1"], "rejectStatusCode": 499}, "invalid HTTP status code 499", id="499"),
        pytest.param({"sourceRange": ["10.0.0.1"], "ipStrategy": {"ipv6Subnet": 129}}, "invalid IPv6 subnet 129 value",
                     id="subnet"),
        pytest.param({"sourceRange": ["10.0.0.1"], "ipStrategy": {"excludedIPs": ["x"]}}, "parsing CIDR trusted IPs x",
                     id="excluded"),
    ],
)  # fmt: skip
def test_invalid_configuration_is_refused(options: dict[str, Any], error: str) -> None:
    factory = factory_for("ipAllowList")
    assert factory is not None
    with pytest.raises(ValueError, match=error):
        factory(Backend(), _config(options), name="m", ctx=BuildContext())


def test_reject_status_zero_means_403() -> None:
    factory = factory_for("ipAllowList")
    assert factory is not None
    handler = factory(Backend(), _config({"sourceRange": ["10.0.0.0/8"], "rejectStatusCode": 0}), name="m",
                      ctx=BuildContext())  # fmt: skip
    assert asyncio.run(handler(_request())).status == 403  # type: ignore[arg-type]
