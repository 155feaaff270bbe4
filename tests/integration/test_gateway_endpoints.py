"""Endpoints through the real ``gateway run`` and real backends: KrakenD's request, merge and response semantics.

Several cases port krakend-ce's integration specs (``tests/fixtures/specs``) and Lura's table cases as facts:
param_forwarding (input_headers list vs ``*``), query_forwarding (``*``, multi-value, allow-list), backend_404
(500, completed false), detail_error (``error_<name>``), no-op_1/no-op_2 (Set-Cookie and 404 passed through),
collection (mapping collection→posts + allow), timeout (partial, completed false), router_404/405,
router_redirect (``/StAtic`` → 301), backend_301..307 (redirects followed), xml, integration_jsonschema (/__health).
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from edge_harness import eventually, http_request
from gateway_fixtures import Gateway, JsonBackend, start_gateway

pytestmark = pytest.mark.integration


def _endpoints(backend: JsonBackend, dead: str) -> list[dict[str, Any]]:
    return [
        {"endpoint": "/users/{id}", "backend": [{"url_pattern": "/user/{id}", "allow": ["name", "address.city"]}]},
        {"endpoint": "/users/new", "backend": [{"url_pattern": "/user/static", "deny": ["tags", "address"]}]},
        {"endpoint": "/headers/list", "input_headers": ["X-A", "User-Agent"], "backend": [{"url_pattern": "/echo/h"}]},
        {"endpoint": "/headers/default", "backend": [{"url_pattern": "/echo/h"}]},
        {"endpoint": "/headers/all", "input_headers": ["*"], "backend": [{"url_pattern": "/echo/h"}]},
        {"endpoint": "/query/none", "backend": [{"url_pattern": "/echo/q"}]},
        {"endpoint": "/query/list", "input_query_strings": ["a", "c"], "backend": [{"url_pattern": "/echo/q?fixed=1"}]},
        {"endpoint": "/query/all", "input_query_strings": ["*"], "backend": [{"url_pattern": "/echo/q"}]},
        {
            "endpoint": "/merge/ok",
            "cache_ttl": "30s",
            "backend": [
                {"url_pattern": "/user/1", "group": "a", "allow": ["id"]},
                {"url_pattern": "/collection", "is_collection": True, "mapping": {"collection": "items"}},
            ],
        },
        {
            "endpoint": "/merge/partial",
            "cache_ttl": "30s",
            "backend": [{"url_pattern": "/user/1", "target": "address"}, {"url_pattern": "/status/500"}],
        },
        {"endpoint": "/fail/status", "backend": [{"url_pattern": "/status/404"}]},
        {
            "endpoint": "/fail/code",
            "backend": [{"url_pattern": "/status/429", "extra_config": {"backend/http": {"return_error_code": True}}}],
        },
        {
            "endpoint": "/fail/details",
            "backend": [
                {"url_pattern": "/user/2", "group": "user", "allow": ["id"]},
                {"url_pattern": "/status/418", "extra_config": {"backend/http": {"return_error_details": "tea"}}},
            ],
        },
        {"endpoint": "/fail/garbage", "backend": [{"url_pattern": "/garbage"}]},
        {"endpoint": "/fail/deep", "backend": [{"url_pattern": "/deep"}]},
        {"endpoint": "/fail/down", "backend": [{"url_pattern": "/x", "host": [dead]}]},
        {"endpoint": "/fail/timeout", "timeout": "200ms", "backend": [{"url_pattern": "/slow?ms=1500"}]},
        {
            "endpoint": "/timeout/partial",
            "timeout": "400ms",
            "backend": [{"url_pattern": "/user/3", "group": "fast"}, {"url_pattern": "/slow?ms=1500", "group": "slow"}],
        },
        {"endpoint": "/noop/cookies", "output_encoding": "no-op", "backend": [{"url_pattern": "/cookies"}]},
        {"endpoint": "/noop/404", "output_encoding": "no-op", "backend": [{"url_pattern": "/status/404"}]},
        {"endpoint": "/noop/stream", "output_encoding": "no-op", "backend": [{"url_pattern": "/chunks?n=3"}]},
        {"endpoint": "/noop/gzip", "output_encoding": "no-op", "backend": [{"url_pattern": "/gzip"}]},
        {"endpoint": "/noop/down", "output_encoding": "no-op", "backend": [{"url_pattern": "/x", "host": [dead]}]},
        {"endpoint": "/gzip", "backend": [{"url_pattern": "/gzip"}]},
        {"endpoint": "/xml", "backend": [{"url_pattern": "/xml", "encoding": "xml"}]},
        {"endpoint": "/xml/out", "output_encoding": "xml", "backend": [{"url_pattern": "/user/5", "allow": ["name"]}]},
        {
            "endpoint": "/string",
            "output_encoding": "string",
            "backend": [{"url_pattern": "/xml", "encoding": "string"}],
        },
        {
            "endpoint": "/collection",
            "backend": [
                {
                    "url_pattern": "/collection",
                    "is_collection": True,
                    "mapping": {"collection": "posts"},
                    "allow": ["collection"],
                }
            ],
        },
        {"endpoint": "/redirected/{status}", "backend": [{"url_pattern": "/redirect?status={status}&to=/echo/after"}]},
        {"endpoint": "/post", "method": "POST", "backend": [{"url_pattern": "/echo/post"}]},
        {"endpoint": "/post", "method": "PUT", "backend": [{"url_pattern": "/echo/put"}]},
        {"endpoint": "/concurrent", "concurrent_calls": 3, "backend": [{"url_pattern": "/user/9", "allow": ["id"]}]},
        {
            "endpoint": "/flatmap",
            "extra_config": {
                "proxy": {
                    "flatmap_filter": [{"type": "move", "args": ["u.name", "who"]}, {"type": "del", "args": ["u"]}]
                }
            },
            "backend": [
                {"url_pattern": "/user/f", "group": "u"},
                {"url_pattern": "/collection", "is_collection": True},
            ],
        },
        {
            "endpoint": "/prefixed",
            "backend": [{"url_pattern": "/sub", "host": [f"{backend.url}/echo"], "disable_host_sanitize": True}],
        },
        {"endpoint": "/StAtic", "backend": [{"url_pattern": "/user/s", "allow": ["id"]}]},
        {"endpoint": "/slash/", "backend": [{"url_pattern": "/user/sl", "allow": ["id"]}]},
    ]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[JsonBackend, Gateway]]:
    backend = JsonBackend().start()
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    gateway = start_gateway(
        tmp_path_factory.mktemp("gw"), {"host": [backend.url], "timeout": "3s", "endpoints": _endpoints(backend, dead)}
    )
    try:
        yield backend, gateway
    finally:
        assert gateway.stop() == 0, gateway.output()
        backend.stop()


def _get(gw: Gateway, path: str, method: str = "GET", headers: dict[str, str] | None = None, body: bytes | None = None):  # type: ignore[no-untyped-def]
    return http_request(gw.port, method, path, headers=headers, body=body)


def test_params_and_allow(env: tuple[JsonBackend, Gateway]) -> None:
    backend, gw = env
    r = _get(gw, "/users/42")
    assert r.status == 200
    assert r.json() == {"name": "user 42", "address": {"city": "Paris"}}
    assert r.header("X-KrakenD") == "Version 2.13.8"
    assert r.header("X-KrakenD-Completed") == "true"
    assert r.header("Content-Type") == "application/json; charset=utf-8"
    assert r.header("Cache-Control") is None  # no cache_ttl
    assert backend.last("/user/42")[0] == "GET"


def test_static_beats_param_and_deny(env: tuple[JsonBackend, Gateway]) -> None:
    _, gw = env
    assert _get(gw, "/users/new").json() == {"id": "static", "name": "user static"}


def test_headers_sent_to_backends(env: tuple[JsonBackend, Gateway]) -> None:
    _, gw = env
    sent = {"X-A": "1", "X-B": "2", "User-Agent": "client/1", "Content-Type": "text/x", "X-Forwarded-For": "9.9.9.9"}
    default = _get(gw, "/headers/default", headers=sent).json()["headers"]
    assert default["content-type"] == ["text/x"]
    assert "x-a" not in default
    assert "x-b" not in default
    assert default["user-agent"] == ["KrakenD Version 2.13.8"]
    assert default["accept-encoding"] == ["gzip"]
    assert default["x-forwarded-for"] == ["127.0.0.1"]
    assert default["x-forwarded-host"] == [f"127.0.0.1:{gw.port}"]
    listed = _get(gw, "/headers/list", headers=sent).json()["headers"]
    assert listed["x-a"] == ["1"]
    assert "x-b" not in listed
    assert "content-type" not in listed
    assert listed["user-agent"] == ["client/1"]  # the client's is forwarded: X-Forwarded-Via then
    assert listed["x-forwarded-via"] == ["KrakenD Version 2.13.8"]
    everything = _get(gw, "/headers/all", headers=sent).json()["headers"]
    assert (everything["x-a"], everything["x-b"]) == (["1"], ["2"])
    # The entrypoint's own X-Forwarded-* never reach a backend, even under "*": KrakenD sets none of them.
    assert not {"x-forwarded-proto", "x-forwarded-port", "x-forwarded-server", "x-real-ip"} & set(everything)


def test_query_strings_are_filtered(env: tuple[JsonBackend, Gateway]) -> None:
    _, gw = env
    assert _get(gw, "/query/none?a=1").json()["query"] == {}
    assert _get(gw, "/query/list?c=3&a=1&b=2&a=0").json()["query"] == {"fixed": ["1"], "a": ["1", "0"], "c": ["3"]}
    assert _get(gw, "/query/all?x=1&x=2&y=").json()["query"] == {"x": ["1", "2"], "y": [""]}


def test_merge_of_two_backends(env: tuple[JsonBackend, Gateway]) -> None:
    _, gw = env
    r = _get(gw, "/merge/ok")
    assert r.json() == {"a": {"id": "1"}, "items": [{"i": i, "path": "/collection"} for i in range(3)]}
    assert r.header("X-KrakenD-Completed") == "true"
    assert r.header("Cache-Control") == "public, max-age=30"


def test_merge_with_one_backend_failing_is_partial(env: tuple[JsonBackend, Gateway]) -> None:
    _, gw = env
    r = _get(gw, "/merge/partial")
    assert (r.status, r.json()) == (200, {"city": "Paris", "zip": "75001"})
    assert r.header("X-KrakenD-Completed") == "false"
    assert r.header("Cache-Control") is None


@pytest.mark.parametrize("path", ["/fail/status", "/fail/garbage", "/fail/deep", "/fail/down", "/fail/timeout"])
def test_failures_are_500_empty_never_a_traceback(env: tuple[JsonBackend, Gateway], path: str) -> None:
    _, gw = env
    r = _get(gw, path)
    assert (r.status, r.body) == (500, b"")
    assert r.header("X-KrakenD-Completed") == "false"
    assert r.header("X-KrakenD") == "Version 2.13.8"
    assert "Traceback" not in gw.output()


def test_return_error_code_and_details(env: tuple[JsonBackend, Gateway]) -> None:
    _, gw = env
    assert _get(gw, "/fail/code").status == 429
    r = _get(gw, "/fail/details")
    assert r.status == 200
    assert r.header("X-KrakenD-Completed") == "false"
    assert r.json() == {
        "user": {"id": "2"},
        "error_tea": {
            "http_status_code": 418,
            "http_body": '{"status": 418}',
            "http_body_encoding": "application/json",
        },
    }


def test_timeout_with_partial_data(env: tuple[JsonBackend, Gateway]) -> None:
    _, gw = env
    started = time.monotonic()
    r = _get(gw, "/timeout/partial")
    assert time.monotonic() - started < 1.2
    assert (r.status, r.json()) == (
        200,
        {
            "fast": {
                "address": {"city": "Paris", "zip": "75001"},
                "id": "3",
                "name": "user 3",
                "tags": [{"k": "a", "v": 1}, {"k": "b", "v": 2}],
            }
        },
    )
    assert r.header("X-KrakenD-Completed") == "false"


def test_noop_passes_status_headers_and_cookies(env: tuple[JsonBackend, Gateway]) -> None:
    _, gw = env
    r = _get(gw, "/noop/cookies")
    assert r.status == 200
    assert [v for n, v in r.headers if n.lower() == "set-cookie"] == ["test1=test1", "test2=test2"]
    assert r.header("X-KrakenD-Completed") == "false"
    missing = _get(gw, "/noop/404")
    assert (missing.status, missing.json()) == (404, {"status": 404})
    down = _get(gw, "/noop/down")
    assert (down.status, down.body) == (500, b"")


def test_noop_decodes_the_gzip_it_asked_for(env: tuple[JsonBackend, Gateway]) -> None:
    _, gw = env
    r = _get(gw, "/noop/gzip")
    assert r.json() == {"zipped": True}
    assert r.header("Content-Encoding") is None
    assert _get(gw, "/gzip").json() == {"zipped": True}


def test_noop_streams_chunks_as_they_arrive(env: tuple[JsonBackend, Gateway]) -> None:
    backend, gw = env
    with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as sock:
        sock.sendall(b"GET /noop/stream HTTP/1.1\r\nHost: x\r\n\r\n")
        received = b""
        while b"chunk-0" not in received:
            data = sock.recv(65536)
            assert data, received
            received += data
        # The first chunk reached the client while the backend still holds the second and third.
        assert backend.sent_chunks == 1
        backend.release(1)
        backend.release(2)
        while b"0\r\n\r\n" not in received:
            data = sock.recv(65536)
            assert data
            received += data
    assert b"chunk-1" in received
    assert b"chunk-2" in received


def test_encodings(env: tuple[JsonBackend, Gateway]) -> None:
    _, gw = env
    assert _get(gw, "/xml").json() == {"user": {"-type": "admin", "name": "Ann", "age": "7"}}
    out = _get(gw, "/xml/out")
    assert out.header("Content-Type") == "application/xml; charset=utf-8"
    assert out.body == b"<doc><name>user 5</name></doc>"
    text = _get(gw, "/string")
    assert text.header("Content-Type") == "text/plain; charset=utf-8"
    assert text.body.startswith(b'<user type="admin">')


def test_collection_spec(env: tuple[JsonBackend, Gateway]) -> None:
    _, gw = env
    assert _get(gw, "/collection").json() == {"posts": [{"i": i, "path": "/collection"} for i in range(3)]}


@pytest.mark.parametrize("status", ["301", "302", "303", "307"])
def test_backend_redirects_are_followed(env: tuple[JsonBackend, Gateway], status: str) -> None:
    _backend, gw = env
    r = _get(gw, f"/redirected/{status}")
    assert r.status == 200
    assert r.json()["path"] == "/echo/after"
    assert "referer" in r.json()["headers"]


def test_methods_and_bodies(env: tuple[JsonBackend, Gateway]) -> None:
    _, gw = env
    post = _get(gw, "/post", "POST", {"Content-Type": "application/json"}, b'{"x":1}').json()
    assert (post["method"], post["body"], post["path"]) == ("POST", '{"x":1}', "/echo/post")
    assert _get(gw, "/post", "PUT", body=b"z").json()["method"] == "PUT"


def test_concurrent_calls_answer_once(env: tuple[JsonBackend, Gateway]) -> None:
    _, gw = env
    assert _get(gw, "/concurrent").json() == {"id": "9"}


def test_router_404_405_and_no_automatic_head(env: tuple[JsonBackend, Gateway]) -> None:
    _, gw = env
    missing = _get(gw, "/does/not/exist")
    assert (missing.status, missing.body) == (404, b"404 page not found")
    assert missing.header("Content-Type") == "text/plain"
    assert (missing.header("X-KrakenD"), missing.header("X-KrakenD-Completed")) == ("Version 2.13.8", "false")
    wrong = _get(gw, "/post", "DELETE")
    assert (wrong.status, wrong.body) == (405, b"405 method not allowed")
    assert wrong.header("Allow") == "POST, PUT"
    assert wrong.header("Content-Type") == "text/plain"
    assert wrong.header("X-KrakenD-Completed") == "false"
    assert _get(gw, "/users/1", "HEAD").status == 405


def test_router_redirects(env: tuple[JsonBackend, Gateway]) -> None:
    _, gw = env
    fixed = _get(gw, "/static?q=1")
    assert (fixed.status, fixed.header("Location")) == (301, "/StAtic?q=1")
    slash = _get(gw, "/slash")
    assert (slash.status, slash.header("Location")) == (301, "/slash/")
    temporary = _get(gw, "/post/", "POST", body=b"")
    assert (temporary.status, temporary.header("Location")) == (307, "/post")


def test_health_schema(env: tuple[JsonBackend, Gateway]) -> None:
    _, gw = env
    r = _get(gw, "/__health")
    body = json.loads(r.body)
    assert set(body) == {"agents", "now", "status"}
    assert body["status"] == "ok"
    eventually(lambda: _get(gw, "/__health").status == 200)


def test_endpoint_flatmap_filter_applies_to_the_merge(env: tuple[JsonBackend, Gateway]) -> None:
    _, gw = env
    r = _get(gw, "/flatmap")
    assert r.json() == {"who": "user f", "collection": [{"i": i, "path": "/collection"} for i in range(3)]}


def test_disable_host_sanitize_keeps_a_path_in_the_host(env: tuple[JsonBackend, Gateway]) -> None:
    _, gw = env
    assert _get(gw, "/prefixed").json()["path"] == "/echo/sub"
