"""No-op endpoints on the fast path (``gateway/noop_fast.py``) through the real CLI, against a real backend.

What the backend receives (``url_pattern`` with parameters and its own query, the allowed query and headers, KrakenD's
``User-Agent``/``X-Forwarded-Via`` and ``X-Forwarded-*``), the endpoint ``timeout`` as a 500, a redirect followed,
the Hanzo chain still stripping identity headers when it is skipped for requests without any, and a request with a
header the proxy rewrites (the general path) answered the same way.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from edge_harness import http_request
from gateway_fixtures import Gateway, JsonBackend, start_gateway


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[JsonBackend, Gateway]]:
    backend = JsonBackend().start()
    noop = {"output_encoding": "no-op"}
    endpoints: list[dict[str, Any]] = [
        {
            "endpoint": "/noop/echo/{id}",
            **noop,
            "input_headers": ["X-A", "User-Agent"],
            "input_query_strings": ["q"],
            "backend": [{"url_pattern": "/echo/{id}/x?fixed=1"}],
        },
        {"endpoint": "/noop/all", **noop, "input_headers": ["*"], "backend": [{"url_pattern": "/echo/all"}]},
        {"endpoint": "/noop/slow", **noop, "timeout": "300ms", "backend": [{"url_pattern": "/slow?ms=2000"}]},
        {"endpoint": "/noop/moved", **noop, "backend": [{"url_pattern": "/redirect?to=/echo/moved&status=302"}]},
    ]
    gateway = start_gateway(tmp_path_factory.mktemp("g18"), {"host": [backend.url], "endpoints": endpoints})
    try:
        yield backend, gateway
    finally:
        assert gateway.stop() == 0, gateway.output()
        backend.stop()


def test_the_backend_gets_krakends_request(env: tuple[JsonBackend, Gateway]) -> None:
    _, gw = env
    sent = {"X-A": "1", "X-B": "2", "User-Agent": "client/1", "X-Forwarded-For": "9.9.9.9"}
    r = http_request(gw.port, "GET", "/noop/echo/42?q=v&other=x", headers=sent)
    assert r.status == 200
    assert r.header("X-Krakend") == "Version 2.13.8"
    assert r.header("X-Krakend-Completed") == "false"
    seen = r.json()
    assert (seen["path"], seen["query"]) == ("/echo/42/x", {"fixed": ["1"], "q": ["v"]})
    headers = seen["headers"]
    assert headers["x-a"] == ["1"]
    assert "x-b" not in headers
    assert headers["user-agent"] == ["client/1"]
    assert headers["x-forwarded-via"] == ["KrakenD Version 2.13.8"]
    assert headers["accept-encoding"] == ["gzip"]
    assert headers["x-forwarded-for"] == ["127.0.0.1"]
    assert headers["x-forwarded-host"] == [f"127.0.0.1:{gw.port}"]


def test_the_endpoint_timeout_is_a_500(env: tuple[JsonBackend, Gateway]) -> None:
    _, gw = env
    started = time.monotonic()
    r = http_request(gw.port, "GET", "/noop/slow")
    assert time.monotonic() - started < 1.8  # the 300 ms timeout answered, not the backend's 2 s
    assert r.status == 500
    assert r.body == b""
    assert r.header("X-Krakend-Completed") == "false"


def test_a_redirect_is_followed(env: tuple[JsonBackend, Gateway]) -> None:
    _, gw = env
    r = http_request(gw.port, "GET", "/noop/moved")
    assert r.status == 200
    assert r.json()["path"] == "/echo/moved"


def test_identity_headers_are_stripped_and_rewritten_headers_take_the_general_path(
    env: tuple[JsonBackend, Gateway],
) -> None:
    _, gw = env
    plain = http_request(gw.port, "GET", "/noop/all", headers={"X-A": "1"}).json()["headers"]
    assert plain["x-a"] == ["1"]
    forged = http_request(gw.port, "GET", "/noop/all", headers={"X-A": "1", "X-User-Id": "forged"})
    assert forged.status == 200
    assert "x-user-id" not in forged.json()["headers"]
    # TE is hop-by-hop: forwarded under "*" it sends the request down the general path; "TE: trailers" is kept.
    general = http_request(gw.port, "GET", "/noop/all", headers={"X-A": "1", "TE": "trailers"})
    assert general.status == 200
    assert general.json()["headers"]["te"] == ["trailers"]
    assert general.header("X-Krakend") == "Version 2.13.8"
