"""``krakendCors`` (KrakenD ``security/cors`` over rs/cors): preflight and actual-request headers, request in → headers
out. Cases follow krakend-ce's cors_1..cors_5 fixtures and rs/cors' handler."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response
from hanzo_edge.middlewares.base import BuildContext, kind_of
from hanzo_edge.middlewares.krakend_cors import KrakendCors, KrakendCorsConfig

PREFLIGHT_VARY = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"


class Backend:
    """A fake ``next`` that counts calls and answers 200 with one header of its own."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, req: Request) -> Response:
        self.calls += 1
        return Response(200, Headers([(b"Content-Type", b"application/json"), (b"Vary", b"Accept-Encoding")]), b"{}")


def _req(method: str, **headers: str) -> Request:
    raw = [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]
    return Request(method, "/any/path", Headers(raw), host="gw.test")


def _run(config: KrakendCorsConfig, req: Request) -> tuple[Response, Backend]:
    backend = Backend()
    cors = KrakendCors(backend, config, name="cors", ctx=BuildContext())
    return asyncio.run(_call(cors, req)), backend


async def _call(handler: Any, req: Request) -> Response:
    response: Response = await handler(req)
    return response


def _cors_headers(response: Response) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in response.headers:
        if name.lower().startswith("access-control-") or name.lower() == "vary":
            out.setdefault(name, []).append(value)
    return out


FIXTURE = KrakendCorsConfig(
    allow_origins=("*",),
    allow_methods=("POST", "GET"),
    allow_headers=("Origin", "Authorization", "Content-Type"),
    expose_headers=("Content-Length",),
    max_age=43200,
)


def test_the_kind_is_registered_with_its_model() -> None:
    assert kind_of(KrakendCorsConfig()) is not None
    assert kind_of(KrakendCorsConfig()).name == "krakendCors"  # type: ignore[union-attr]


def test_allowed_preflight_is_answered_204_without_calling_the_chain() -> None:
    req = _req("OPTIONS", Origin="http://foo.example", Access_Control_Request_Method="GET")
    req.headers.add("Access-Control-Request-Headers", "Origin, Content-Type")
    response, backend = _run(FIXTURE, req)

    assert (response.status, response.body, backend.calls) == (204, b"", 0)
    assert _cors_headers(response) == {
        "Vary": [PREFLIGHT_VARY],
        "Access-Control-Allow-Origin": ["*"],
        "Access-Control-Allow-Methods": ["GET"],
        "Access-Control-Allow-Headers": ["Origin, Content-Type"],
        "Access-Control-Max-Age": ["43200"],
    }


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"Access_Control_Request_Method": "PUT"}, id="method-not-allowed"),
        pytest.param(
            {"Access_Control_Request_Method": "POST", "Access_Control_Request_Headers": "X-PINGOTHER"},
            id="header-not-allowed",
        ),
    ],
)
def test_refused_preflight_is_still_204_with_only_vary(headers: dict[str, str]) -> None:
    response, backend = _run(FIXTURE, _req("OPTIONS", Origin="http://foo.example.tld", **headers))

    assert (response.status, backend.calls) == (204, 0)
    assert _cors_headers(response) == {"Vary": [PREFLIGHT_VARY]}


def test_preflight_from_an_origin_not_listed_gets_no_allow_headers() -> None:
    config = KrakendCorsConfig(allow_origins=("https://app.example.com",))
    response, _ = _run(config, _req("OPTIONS", Origin="https://evil.example", Access_Control_Request_Method="GET"))

    assert _cors_headers(response) == {"Vary": [PREFLIGHT_VARY]}


def test_listed_origin_is_echoed_case_insensitively_with_credentials() -> None:
    config = KrakendCorsConfig(allow_origins=("https://App.Example.com",), allow_credentials=True)
    response, _ = _run(config, _req("OPTIONS", Origin="https://app.example.COM", Access_Control_Request_Method="POST"))

    headers = _cors_headers(response)
    assert headers["Access-Control-Allow-Origin"] == ["https://app.example.COM"]
    assert headers["Access-Control-Allow-Credentials"] == ["true"]


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("https://api.example.com", True),
        ("https://a.b.example.com", True),
        ("https://example.com", False),
        ("http://api.example.com", False),
        ("https://api.example.com.evil.net", False),
    ],
)
def test_wildcard_origin(origin: str, allowed: bool) -> None:
    config = KrakendCorsConfig(allow_origins=("https://*.example.com",))
    response, _ = _run(config, _req("GET", Origin=origin))

    assert ("Access-Control-Allow-Origin" in _cors_headers(response)) is allowed


def test_actual_request_gets_vary_origin_first_and_expose_headers() -> None:
    response, backend = _run(FIXTURE, _req("GET", Origin="http://foo.example.tld"))

    assert (response.status, backend.calls) == (200, 1)
    assert _cors_headers(response) == {
        "Vary": ["Origin", "Accept-Encoding"],
        "Access-Control-Allow-Origin": ["*"],
        "Access-Control-Expose-Headers": ["Content-Length"],
    }
    assert response.headers.get("Content-Type") == "application/json"


def test_request_without_origin_only_gets_vary() -> None:
    response, _ = _run(FIXTURE, _req("GET"))

    assert _cors_headers(response) == {"Vary": ["Origin", "Accept-Encoding"]}


def test_actual_request_with_a_method_not_allowed_gets_no_allow_origin() -> None:
    response, backend = _run(FIXTURE, _req("DELETE", Origin="http://foo.example"))

    assert backend.calls == 1
    assert _cors_headers(response) == {"Vary": ["Origin", "Accept-Encoding"]}


def test_options_without_request_method_is_not_a_preflight() -> None:
    response, backend = _run(FIXTURE, _req("OPTIONS", Origin="http://foo.example"))

    assert backend.calls == 1
    assert response.status == 200


def test_options_passthrough_hands_the_preflight_on_with_its_headers() -> None:
    config = KrakendCorsConfig(options_passthrough=True)
    response, backend = _run(config, _req("OPTIONS", Origin="http://x.test", Access_Control_Request_Method="POST"))

    assert (response.status, backend.calls) == (200, 1)
    assert _cors_headers(response)["Access-Control-Allow-Methods"] == ["POST"]


def test_private_network_and_custom_success_status() -> None:
    config = KrakendCorsConfig(allow_private_network=True, options_success_status=200)
    req = _req("OPTIONS", Origin="http://x.test", Access_Control_Request_Method="GET")
    req.headers.add("Access-Control-Request-Private-Network", "true")
    response, _ = _run(config, req)

    assert response.status == 200
    headers = _cors_headers(response)
    assert headers["Vary"] == [PREFLIGHT_VARY + ", Access-Control-Request-Private-Network"]
    assert headers["Access-Control-Allow-Private-Network"] == ["true"]


def test_default_headers_allow_any_requested_header() -> None:
    req = _req(
        "OPTIONS",
        Origin="http://x.test",
        Access_Control_Request_Method="GET",
        Access_Control_Request_Headers="x-anything",
    )
    response, _ = _run(KrakendCorsConfig(), req)

    assert _cors_headers(response)["Access-Control-Allow-Headers"] == ["x-anything"]


def test_a_handler_header_of_the_same_name_gives_way() -> None:
    async def backend(req: Request) -> Response:
        return Response(200, Headers([(b"Access-Control-Allow-Origin", b"https://other.test")]))

    cors = KrakendCors(backend, KrakendCorsConfig(), name="cors", ctx=BuildContext())
    response = asyncio.run(_call(cors, _req("GET", Origin="http://x.test")))

    assert response.headers.get_all("Access-Control-Allow-Origin") == ["*"]


def test_debug_logs_why_a_preflight_was_refused(caplog: pytest.LogCaptureFixture) -> None:
    config = KrakendCorsConfig(allow_origins=("https://ok.test",), debug=True)
    with caplog.at_level(logging.INFO, logger="hanzo_edge.gateway.cors"):
        _run(config, _req("OPTIONS", Origin="https://bad.test", Access_Control_Request_Method="GET"))

    assert "origin 'https://bad.test' not allowed" in caplog.text


def test_bad_success_status_is_refused_at_build() -> None:
    with pytest.raises(ValueError, match="options_success_status"):
        KrakendCors(Backend(), KrakendCorsConfig(options_success_status=42), name="cors", ctx=BuildContext())
