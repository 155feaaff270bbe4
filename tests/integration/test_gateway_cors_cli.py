"""``security/cors`` through the real ``gateway run``: preflights are answered before routing and auth, for any path;
actual responses (endpoints and the router's 404) carry rs/cors' headers. Ports krakend-ce's cors_1..cors_5 as facts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from edge_harness import http_request
from gateway_fixtures import Gateway, JsonBackend, start_gateway

pytestmark = pytest.mark.integration

CORS = {
    "allow_origins": ["http://foo.example", "https://*.example.tld"],
    "allow_methods": ["GET", "POST"],
    "allow_headers": ["Origin", "Authorization", "Content-Type"],
    "expose_headers": ["Content-Length"],
    "max_age": "12h",
}
PREFLIGHT_VARY = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    backend = JsonBackend().start()
    protected = {"auth/validator": {"jwk_url": "https://keys.invalid/jwks"}}
    endpoints = [
        {"endpoint": "/open", "backend": [{"url_pattern": "/user/1", "allow": ["id"]}]},
        {"endpoint": "/private", "backend": [{"url_pattern": "/user/2"}], "extra_config": protected},
    ]
    gw = start_gateway(
        tmp_path_factory.mktemp("gw-cors"),
        {"host": [backend.url], "endpoints": endpoints, "extra_config": {"security/cors": CORS}},
    )
    try:
        yield gw
    finally:
        assert gw.stop() == 0, gw.output()
        backend.stop()


def _preflight(gw: Gateway, path: str, origin: str, method: str, headers: str | None = None) -> object:
    sent = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers is not None:
        sent["Access-Control-Request-Headers"] = headers
    return http_request(gw.port, "OPTIONS", path, headers=sent)


@pytest.mark.parametrize("path", ["/open", "/private", "/no/such/path"])
def test_allowed_preflight_is_204_before_routing_and_auth(gateway: Gateway, path: str) -> None:
    response = _preflight(gateway, path, "http://foo.example", "POST", "Authorization")

    assert (response.status, response.body) == (204, b"")  # type: ignore[attr-defined]
    assert response.header("Vary") == PREFLIGHT_VARY  # type: ignore[attr-defined]
    assert response.header("Access-Control-Allow-Origin") == "http://foo.example"  # type: ignore[attr-defined]
    assert response.header("Access-Control-Allow-Methods") == "POST"  # type: ignore[attr-defined]
    assert response.header("Access-Control-Allow-Headers") == "Authorization"  # type: ignore[attr-defined]
    assert response.header("Access-Control-Max-Age") == "43200"  # type: ignore[attr-defined]
    assert response.header("X-Krakend-Completed") is None  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("origin", "method", "headers"),
    [
        ("http://foo.example", "PUT", None),  # cors_2: method not allowed
        ("http://foo.example", "POST", "X-PINGOTHER"),  # cors_3: header not allowed
        ("https://evil.test", "GET", None),  # origin not allowed
    ],
)
def test_refused_preflight_is_204_with_vary_only(
    gateway: Gateway, origin: str, method: str, headers: str | None
) -> None:
    response = _preflight(gateway, "/open", origin, method, headers)

    assert response.status == 204  # type: ignore[attr-defined]
    assert response.header("Vary") == PREFLIGHT_VARY  # type: ignore[attr-defined]
    assert response.header("Access-Control-Allow-Origin") is None  # type: ignore[attr-defined]


def test_actual_request_from_a_wildcard_origin(gateway: Gateway) -> None:
    response = http_request(gateway.port, "GET", "/open", headers={"Origin": "https://app.example.tld"})

    assert response.status == 200
    assert response.header("Access-Control-Allow-Origin") == "https://app.example.tld"
    assert response.header("Access-Control-Expose-Headers") == "Content-Length"
    assert response.header("Vary") == "Origin"
    assert response.header("X-Krakend-Completed") == "true"


def test_router_404_gets_the_cors_headers_too(gateway: Gateway) -> None:
    response = http_request(gateway.port, "GET", "/no/such/path", headers={"Origin": "http://foo.example"})

    assert response.status == 404
    assert response.header("Access-Control-Allow-Origin") == "http://foo.example"
