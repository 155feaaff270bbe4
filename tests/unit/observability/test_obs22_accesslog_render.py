"""The JSON renderer's literal for the usual request (issue 22) writes the same bytes as the general path, for every
combination of the conditional fields (host, route, service, backend, trace, TLS, client certificate)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import pytest

from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request
from hanzo_edge.http.tls_info import TLSInfo
from hanzo_edge.observability.accesslog import AccessLog, json_line
from hanzo_edge.observability.accesslog import formats as formats_module
from hanzo_edge.observability.accesslog.codegen import Renderer

NOW_NS = 1_700_000_000_500_000_000


@dataclass
class Route:
    name: str
    service: str


@dataclass
class Trace:
    trace_hex: str = "4bf92f3577b34da6a3ce929d0e0e4736"
    span_id: str = "00f067aa0ba902b7"


def _renderers(monkeypatch: pytest.MonkeyPatch, **options: Any) -> tuple[Renderer, Renderer]:
    """(renderer with the usual-request literal, renderer with the general path only)."""
    # The generated renderer, also in the compiled build (there JsonLine is used; its own test compares it to this).
    monkeypatch.setattr(json_line, "compiled", lambda: False)
    fast = AccessLog(format="json", stream=None, wall_ns=lambda: NOW_NS, **options)._render
    monkeypatch.setattr(formats_module, "_COMMON_CASE", {})
    general = AccessLog(format="json", stream=None, wall_ns=lambda: NOW_NS, **options)._render
    monkeypatch.undo()
    return fast, general


def _request(host: bool, route: bool, service: bool, backend: bool, trace: bool, tls: int) -> Request:
    raw = [(b"Host", b"app.test:8080")] if host else []
    req = Request(
        "GET",
        "/a?b=1",
        Headers([*raw, (b"User-Agent", b"t")]),
        path="/a",
        query="b=1",
        host="" if not host else "app.test",
        client_ip="10.0.0.1",
        client_port=1234,
        entry_point="web",
    )
    if route:
        req.route = Route("r@file", "s@file" if service else "")  # type: ignore[assignment]
    if backend:
        req.server_url = "http://10.0.0.2:80"
    if trace:
        req.trace = Trace()  # type: ignore[assignment]
    if tls:
        req.tls_info = TLSInfo("1.3", "TLS_AES_128_GCM_SHA256", "CN=client" if tls == 2 else "")
    return req


@pytest.mark.parametrize(
    "options",
    [{}, {"headers_default": "keep"}, {"fields_names": {"RouterName": "drop", "TLSVersion": "drop"}}],
    ids=["defaults", "headers-kept", "some-dropped"],
)
def test_usual_request_literal_matches_the_general_path(monkeypatch: pytest.MonkeyPatch, options: Any) -> None:
    fast, general = _renderers(monkeypatch, **options)
    assert len(fast.__code__.co_code) > len(general.__code__.co_code), "the usual-request branch was generated"
    for host, route, service, backend, trace, tls in itertools.product(
        (True, False), (True, False), (True, False), (True, False), (True, False), (0, 1, 2)
    ):
        req = _request(host, route, service, backend, trace, tls)
        args = (req, 200, 10, 0.0123, 0, "-", 7)
        assert fast(*args) == general(*args), (host, route, service, backend, trace, tls)
