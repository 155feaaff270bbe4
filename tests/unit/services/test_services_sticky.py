"""Sticky cookies: names, values, Go's Set-Cookie formatting, and sticky balancing in WRR, P2C and weighted."""

from __future__ import annotations

import asyncio

import pytest
from services_fakes import Child, child_name, request

from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.services.p2c import PowerOfTwoChoices
from hanzo_edge.services.sticky import StickyCookie, cookie_name, format_set_cookie, sticky_value
from hanzo_edge.services.weighted import Weighted
from hanzo_edge.services.wrr import WeightedRoundRobin

S1 = "http://127.0.0.1:8081"
S2 = "http://127.0.0.1:8082"
S1_VALUE = "08d5f409490f61fc"  # sha256(S1)[:16]
S2_VALUE = "6bf4bc2f5d722cee"


@pytest.mark.parametrize(
    ("name", "service", "expected"),
    [
        pytest.param("", "backend", "_76eb3", id="generated from the service name"),
        pytest.param("", "/my/BACKEND-v1.0~rc1", "_5f7bc", id="generated, odd service name"),
        pytest.param("/my/BACKEND-v1.0~rc1", "", "_my_BACKEND-v1.0~rc1", id="configured name sanitised"),
        pytest.param("cookie", "backend", "cookie", id="configured name wins"),
        pytest.param("!#$%&'()*+-./:<=>?@[]^_`{|}~", "", "!#$%&'__*+-._________^_`_|_~", id="token characters kept"),
        pytest.param("caf\u00e9", "", "caf_", id="non-ascii rune becomes one underscore"),
    ],
)
def test_cookie_name(name: str, service: str, expected: str) -> None:
    assert cookie_name(name, service) == expected


def test_sticky_value_is_16_hex_of_sha256() -> None:
    assert sticky_value(S1) == S1_VALUE
    assert sticky_value("svc1@file") == "b43f9549228793db"


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        pytest.param({}, "n=v", id="bare"),
        pytest.param({"path": "/"}, "n=v; Path=/", id="path"),
        pytest.param(
            {
                "path": "/",
                "domain": "example.org",
                "max_age": 60,
                "http_only": True,
                "secure": True,
                "same_site": "lax",
            },
            "n=v; Path=/; Domain=example.org; Max-Age=60; HttpOnly; Secure; SameSite=Lax",
            id="every attribute in Go's order",
        ),
        pytest.param({"max_age": -1}, "n=v; Max-Age=0", id="negative max-age expires now"),
        pytest.param({"max_age": 0}, "n=v", id="zero max-age is a session cookie"),
        pytest.param({"same_site": "NONE"}, "n=v; SameSite=None", id="samesite none, case-insensitive"),
        pytest.param({"same_site": "Strict"}, "n=v; SameSite=Strict", id="samesite strict"),
        pytest.param({"same_site": "bogus"}, "n=v", id="unknown samesite omitted"),
        pytest.param({"domain": ".example.org"}, "n=v; Domain=example.org", id="leading dot dropped"),
        pytest.param({"domain": "10.0.0.1"}, "n=v; Domain=10.0.0.1", id="ipv4 domain"),
        pytest.param({"domain": "bad_domain!"}, "n=v", id="invalid domain dropped"),
        pytest.param({"domain": "::1"}, "n=v", id="ipv6 domain dropped"),
        pytest.param({"path": "/a;b\x01"}, "n=v; Path=/ab", id="path sanitised"),
    ],
)
def test_format_set_cookie_matches_go(kwargs: dict[str, object], expected: str) -> None:
    assert format_set_cookie("n", "v", **kwargs) == expected  # type: ignore[arg-type]


def test_format_set_cookie_quotes_values_with_space_or_comma() -> None:
    assert format_set_cookie("n", "a b") == 'n="a b"'
    assert format_set_cookie("n", 'x"y;z') == "n=xyz"


def _set_cookies(resp: Response) -> list[str]:
    return resp.headers.get_all("Set-Cookie")


def _wrr(sticky: StickyCookie) -> tuple[WeightedRoundRobin, dict[str, Child]]:
    children = {S1: Child("one"), S2: Child("two")}
    lb = WeightedRoundRobin([(url, 1, c) for url, c in children.items()], "svc@file", sticky=sticky)
    return lb, children


def _serve(handler: Handler, req: Request) -> Response:
    async def scenario() -> Response:
        return await handler(req)

    return asyncio.run(scenario())


def test_no_cookie_picks_and_sets_the_cookie_with_default_attributes() -> None:
    lb, _ = _wrr(StickyCookie("svc@file"))
    resp = _serve(lb, request())
    name = cookie_name("", "svc@file")
    assert child_name(resp) == "one"
    assert _set_cookies(resp) == [f"{name}={S1_VALUE}; Path=/"]


def test_set_cookie_carries_every_configured_attribute() -> None:
    sticky = StickyCookie(
        "svc@file",
        name="route",
        secure=True,
        http_only=True,
        same_site="STRICT",
        max_age=3600,
        path="/app",
        domain="example.org",
    )
    lb, _ = _wrr(sticky)
    resp = _serve(lb, request())
    assert _set_cookies(resp) == [
        f"route={S1_VALUE}; Path=/app; Domain=example.org; Max-Age=3600; HttpOnly; Secure; SameSite=Strict"
    ]


def test_empty_path_omits_the_attribute() -> None:
    lb, _ = _wrr(StickyCookie("svc@file", name="route", path=""))
    assert _set_cookies(_serve(lb, request())) == [f"route={S1_VALUE}"]


@pytest.mark.parametrize(
    "cookie",
    [
        pytest.param(f"route={S2_VALUE}", id="current value"),
        pytest.param(f'other=1; route="{S2_VALUE}"; x=y', id="quoted among others"),
    ],
)
def test_valid_cookie_sticks_without_set_cookie(cookie: str) -> None:
    lb, children = _wrr(StickyCookie("svc@file", name="route"))
    for _ in range(3):
        resp = _serve(lb, request(cookie=cookie))
        assert child_name(resp) == "two"
        assert _set_cookies(resp) == []
    assert (children[S1].calls, children[S2].calls) == (0, 3)


def test_cookie_found_in_a_second_cookie_header() -> None:
    lb, _ = _wrr(StickyCookie("svc@file", name="route"))
    req = request(cookie="a=b", headers=[("Cookie", f"route={S2_VALUE}")])
    resp = _serve(lb, req)
    assert (child_name(resp), _set_cookies(resp)) == ("two", [])


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(S2, id="raw url"),
        pytest.param("5a1cc52f3f46040e", id="fnv64 of the url"),
        pytest.param("7d49894b220072d3", id="double fnv64"),
    ],
)
def test_legacy_value_sticks_and_is_rewritten(value: str) -> None:
    lb, _ = _wrr(StickyCookie("svc@file", name="route"))
    resp = _serve(lb, request(cookie=f"route={value}"))
    assert child_name(resp) == "two"
    assert _set_cookies(resp) == [f"route={S2_VALUE}; Path=/"]


def test_fnv64_matches_go() -> None:
    from hanzo_edge.services.sticky import _fnv64_hex

    assert _fnv64_hex("") == "cbf29ce484222325"
    assert _fnv64_hex("a") == "af63bd4c8601b7be"


@pytest.mark.parametrize(
    "cookie",
    [
        pytest.param("route=0000000000000000", id="unknown value"),
        pytest.param("other=" + S2_VALUE, id="other cookie name"),
    ],
)
def test_unknown_cookie_repicks_and_sets_cookie(cookie: str) -> None:
    lb, _ = _wrr(StickyCookie("svc@file", name="route"))
    resp = _serve(lb, request(cookie=cookie))
    assert child_name(resp) == "one"
    assert _set_cookies(resp) == [f"route={S1_VALUE}; Path=/"]


def test_cookie_to_a_down_server_repicks_and_sets_cookie() -> None:
    lb, children = _wrr(StickyCookie("svc@file", name="route"))
    lb.set_status(S2, False)
    resp = _serve(lb, request(cookie=f"route={S2_VALUE}"))
    assert child_name(resp) == "one"
    assert _set_cookies(resp) == [f"route={S1_VALUE}; Path=/"]
    assert children[S2].calls == 0


def test_p2c_sticky() -> None:
    sticky = StickyCookie("svc@file", name="route")
    lb = PowerOfTwoChoices([(S1, 1, Child("one")), (S2, 1, Child("two"))], "svc@file", sticky=sticky, rand=lambda n: 0)
    first = _serve(lb, request())
    assert (child_name(first), _set_cookies(first)) == ("one", [f"route={S1_VALUE}; Path=/"])
    again = _serve(lb, request(cookie=f"route={S2_VALUE}"))
    assert (child_name(again), _set_cookies(again)) == ("two", [])
    assert lb.inflight(S2) == 0
    lb.set_status(S2, False)
    moved = _serve(lb, request(cookie=f"route={S2_VALUE}"))
    assert (child_name(moved), _set_cookies(moved)) == ("one", [f"route={S1_VALUE}; Path=/"])


def test_weighted_sticky_uses_the_child_service_name() -> None:
    sticky = StickyCookie("top@file")
    svc = Weighted([("svc1@file", 1, Child("one")), ("svc2", 1, Child("two"))], "top@file", sticky=sticky)
    resp = _serve(svc, request())
    assert _set_cookies(resp) == [f"{cookie_name('', 'top@file')}={sticky_value('svc1@file')}; Path=/"]
    back = _serve(svc, request(cookie=f"{sticky.name}={sticky_value('svc2')}"))
    assert (child_name(back), _set_cookies(back)) == ("two", [])


def test_sticky_levels_each_write_their_own_cookie() -> None:
    inner = WeightedRoundRobin([(S1, 1, Child("one"))], "lb@file", sticky=StickyCookie("lb@file", name="inner"))
    outer = Weighted([("lb@file", 1, inner)], "top@file", sticky=StickyCookie("top@file", name="outer"))
    resp = _serve(outer, request())
    assert _set_cookies(resp) == [f"inner={S1_VALUE}; Path=/", f"outer={sticky_value('lb@file')}; Path=/"]
