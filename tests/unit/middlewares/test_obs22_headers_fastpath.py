"""The headers middleware's per-build decisions (issue 22) keep Traefik's behaviour, and ``Headers.set_field``."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hanzo_edge.config.dynamic import decode_dynamic
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response
from hanzo_edge.middlewares.base import BuildContext, factory_for


def _handler(options: dict[str, Any], backend: Any) -> Any:
    config, _ = decode_dynamic({"http": {"middlewares": {"m": {"headers": options}}}})
    factory = factory_for("headers")
    assert factory is not None
    return factory(backend, config.http.middlewares["m"].config, name="m@file", ctx=BuildContext())


def _request(host: str = "example.org", headers: tuple[tuple[bytes, bytes], ...] = ()) -> Request:
    return Request("GET", "/", Headers([(b"Host", host.encode()), *headers]), path="/", host=host, scheme="http")


def test_set_field_replaces_every_value_case_insensitively_at_the_first_position() -> None:
    headers = Headers([(b"A", b"1"), (b"x-served-by", b"old"), (b"B", b"2"), (b"X-SERVED-BY", b"older")])
    headers.set_field(b"x-served-by", (b"X-Served-By", b"edge"))
    assert headers.raw == [(b"A", b"1"), (b"X-Served-By", b"edge"), (b"B", b"2")]
    headers.set_field(b"x-new", (b"X-New", b"v"))
    assert headers.raw[-1] == (b"X-New", b"v")


def test_custom_response_header_replaces_the_backends_and_sts_is_added_only_when_forced() -> None:
    async def backend(req: Request) -> Response:
        return Response(200, Headers([(b"x-served-by", b"nginx"), (b"Content-Length", b"0")]), b"")

    plain = _handler({"customResponseHeaders": {"X-Served-By": "edge"}, "stsSeconds": 60}, backend)
    resp = asyncio.run(plain(_request()))
    assert resp.headers.raw == [(b"X-Served-By", b"edge"), (b"Content-Length", b"0")]  # no STS over plain HTTP
    forced = _handler({"stsSeconds": 60, "forceSTSHeader": True, "customResponseHeaders": {"X-A": ""}}, backend)
    resp = asyncio.run(forced(_request()))
    assert resp.headers.get("Strict-Transport-Security") == "max-age=60"


def test_bad_host_gets_custom_headers_but_no_security_headers() -> None:
    async def backend(req: Request) -> Response:
        raise AssertionError("a bad host never reaches the backend")

    handler = _handler(
        {
            "allowedHosts": ["good.test"],
            "stsSeconds": 60,
            "forceSTSHeader": True,
            "frameDeny": True,
            "customResponseHeaders": {"X-Custom": "v"},
        },
        backend,
    )
    resp = asyncio.run(handler(_request(host="bad.test")))
    assert resp.status == 500
    assert resp.headers.get("X-Custom") == "v"
    assert resp.headers.get("Strict-Transport-Security") is None
    assert resp.headers.get("X-Frame-Options") is None


def test_https_is_decided_before_the_backend_runs() -> None:
    async def backend(req: Request) -> Response:
        req.headers.set("X-Forwarded-Proto", "http")  # an inner layer changing the header changes nothing
        return Response(200, Headers(), b"")

    handler = _handler({"stsSeconds": 60, "sslProxyHeaders": {"X-Forwarded-Proto": "https"}}, backend)
    resp = asyncio.run(handler(_request(headers=((b"X-Forwarded-Proto", b"https"),))))
    assert resp.headers.get("Strict-Transport-Security") == "max-age=60"


def test_a_response_header_value_outside_latin_1_is_a_configuration_error() -> None:
    async def backend(req: Request) -> Response:
        return Response(200, Headers(), b"")

    with pytest.raises(ValueError, match=r"customResponseHeaders 'X-A'.*outside Latin-1"):
        _handler({"customResponseHeaders": {"X-A": "snow \u2603"}}, backend)
