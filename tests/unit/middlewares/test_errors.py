"""``errors``: upstream status in → error-page request, status and body out (Traefik ``custom_errors_test.go``)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hanzo_edge.config.dynamic import decode_dynamic
from hanzo_edge.http.body import StreamBody
from hanzo_edge.http.errors import ClientClosed, NoAvailableServer, UpstreamError, UpstreamTimeout
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.middlewares.base import BuildContext, factory_for
from hanzo_edge.middlewares.errors import parse_code_ranges

RANGES = ["500-501", "503-599"]


def _config(options: dict[str, Any]) -> Any:
    config, _ = decode_dynamic({"http": {"middlewares": {"m": {"errors": {"service": "error", **options}}}}})
    return config.http.middlewares["m"].config


class _Source:
    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class Upstream:
    """The wrapped handler: answers ``status`` with a streamed body, or raises ``error``."""

    def __init__(self, status: int = 200, error: BaseException | None = None) -> None:
        self.status = status
        self.error = error
        self.body = StreamBody(_Source(), 11)

    async def __call__(self, req: Request) -> Response:
        if self.error is not None:
            raise self.error
        self.body.feed(b"upstream ")
        return Response(self.status, Headers([(b"X-Upstream", b"1"), (b"Content-Length", b"11")]), self.body)


class ErrorService:
    """The error-page service: records the page request and answers 200 with its target."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.seen: list[Request] = []
        self.error = error

    async def __call__(self, req: Request) -> Response:
        self.seen.append(req)
        if self.error is not None:
            raise self.error
        body = f"page {req.method} {req.url_path}".encode()
        return Response(200, Headers([(b"Content-Type", b"text/html"), (b"X-Page", b"1")]), body)


def _build(options: dict[str, Any], upstream: Handler, service: ErrorService) -> Any:
    factory = factory_for("errors")
    assert factory is not None

    def lookup(name: str) -> Handler | None:
        return service if name == "error" else None

    ctx = BuildContext(router="r@file", provider="file", service=lookup)
    return factory(upstream, _config(options), name="m@file", ctx=ctx)


def _request(path: str = "/test", query: str = "", headers: list[tuple[bytes, bytes]] | None = None) -> Request:
    raw = [(b"Host", b"localhost:8080"), *(headers or [])]
    target = f"{path}?{query}" if query else path
    return Request("GET", target, Headers(raw), path=path, query=query, host="localhost")


@pytest.mark.parametrize(
    ("options", "upstream_status", "status", "page"),
    [
        pytest.param({"status": RANGES, "query": "/test"}, 200, 200, None, id="no-error"),
        pytest.param({"status": RANGES, "query": "/test"}, 206, 206, None, id="not-a-200"),
        pytest.param({"status": RANGES, "query": "/test"}, 304, 304, None, id="not-modified"),
        pytest.param({"status": RANGES, "query": "/test"}, 500, 500, "/test", id="in-range"),
        pytest.param({"status": RANGES, "query": "/test"}, 502, 502, None, id="not-in-range"),
        pytest.param({"status": ["503-503"], "query": "/{status}"}, 503, 503, "/503", id="query-replacement"),
        pytest.param({"status": ["503"], "query": "/{status}"}, 503, 503, "/503", id="single-code"),
        pytest.param({"status": ["404,418"], "query": "/{status}"}, 418, 418, "/418", id="comma-list"),
        pytest.param({"status": ["500-599"], "query": "err/{status}.html"}, 503, 503, "/err/503.html", id="no-slash"),
        pytest.param({"status": ["500-599"], "query": "/e?c={status}"}, 504, 504, "/e?c=504", id="query-string"),
        pytest.param({"status": ["500-599"], "query": ""}, 500, 500, "/", id="empty-query"),
        pytest.param({"status": ["500-599"], "query": "/a b#frag"}, 500, 500, "/a%20b", id="go-request-uri"),
        pytest.param(
            {"status": ["500-599"], "query": "/{status}/{originalStatus}", "statusRewrites": {"500-503": 418}},
            502, 418, "/418/502", id="status-rewrite",
        ),
        pytest.param(
            {"status": ["500-599"], "query": "/{status}", "statusRewrites": {"500-503": 418}},
            504, 504, "/504", id="rewrite-not-matching",
        ),
        pytest.param({"status": ["100-599"], "query": "/x"}, 101, 101, None, id="1xx-passes"),
        pytest.param({"status": [], "query": "/x"}, 500, 500, None, id="no-ranges"),
    ],
)  # fmt: skip
def test_errors(options: dict[str, Any], upstream_status: int, status: int, page: str | None) -> None:
    upstream = Upstream(upstream_status)
    service = ErrorService()
    response = asyncio.run(_build(options, upstream, service)(_request()))
    assert response.status == status
    if page is None:
        assert service.seen == []
        assert response.body is upstream.body
        return
    (seen,) = service.seen
    assert seen.url_path == page
    assert (seen.method, seen.body) == ("GET", b"")
    assert response.body == f"page GET {page}".encode()
    assert response.headers.get("X-Page") == "1"
    assert response.headers.get("X-Upstream") is None
    assert response.reason is None
    upstream.body.feed(b"rest")
    upstream.body.feed_eof()
    assert upstream.body.consumed, "the upstream body must be drained so its connection is released"


def test_url_placeholder_is_the_query_escaped_request_uri() -> None:
    service = ErrorService()
    handler = _build({"status": ["500"], "query": "/e?u={url}&s={status}"}, Upstream(500), service)
    asyncio.run(handler(_request("/a%20b", "x=1&y=2")))
    assert service.seen[0].url_path == "/e?u=%2Fa%2520b%3Fx%3D1%26y%3D2&s=500"


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [
        pytest.param([], ["Host", "Accept", "X-Custom", "Cookie"], id="all-headers-but-body-framing"),
        pytest.param(["x-custom"], ["Host", "X-Custom"], id="only-error-request-headers-and-host"),
    ],
)
def test_request_headers_copied_to_the_page_request(wanted: list[str], expected: list[str]) -> None:
    service = ErrorService()
    handler = _build({"status": ["500"], "query": "/e", "errorRequestHeaders": wanted}, Upstream(500), service)
    extra = [
        (b"Accept", b"text/html"),
        (b"X-Custom", b"1"),
        (b"Content-Length", b"3"),
        (b"Transfer-Encoding", b"chunked"),
        (b"Cookie", b"a=b"),
    ]
    asyncio.run(handler(_request(headers=extra)))
    (seen,) = service.seen
    assert [name for name, _ in seen.headers] == expected
    assert seen.headers.get("Host") == "localhost:8080"


@pytest.mark.parametrize(
    ("error", "ranges", "status"),
    [
        pytest.param(UpstreamError("refused"), ["502"], 502, id="bad-gateway"),
        pytest.param(UpstreamTimeout("slow"), ["500-599"], 504, id="timeout"),
        pytest.param(NoAvailableServer("svc"), ["503"], 503, id="no-server"),
    ],
)
def test_upstream_failures_count_with_their_status(error: BaseException, ranges: list[str], status: int) -> None:
    service = ErrorService()
    handler = _build({"status": ranges, "query": "/{status}"}, Upstream(error=error), service)
    response = asyncio.run(handler(_request()))
    assert (response.status, response.body) == (status, f"page GET /{status}".encode())


@pytest.mark.parametrize(
    "error", [UpstreamError("refused"), NoAvailableServer("svc"), ClientClosed("gone")], ids=["502", "503", "499"]
)
def test_upstream_failures_outside_the_ranges_propagate(error: BaseException) -> None:
    handler = _build({"status": ["400-404"], "query": "/x"}, Upstream(error=error), ErrorService())
    with pytest.raises(type(error)):
        asyncio.run(handler(_request()))


@pytest.mark.parametrize(
    ("error", "body"),
    [
        pytest.param(NoAvailableServer("err"), b"no available server\n", id="no-server"),
        pytest.param(UpstreamTimeout("slow"), b"Gateway Timeout", id="timeout"),
    ],
)
def test_failing_error_service_answers_with_the_original_status(error: BaseException, body: bytes) -> None:
    handler = _build({"status": ["500"], "query": "/x"}, Upstream(500), ErrorService(error))
    response = asyncio.run(handler(_request()))
    assert (response.status, response.body) == (500, body)


def test_unparsable_page_url_answers_the_status_text() -> None:
    service = ErrorService()
    response = asyncio.run(_build({"status": ["503"], "query": "/%zz"}, Upstream(503), service)(_request()))
    assert (response.status, response.body) == (503, b"Service Unavailable\n")
    assert response.headers.get("Content-Type") == "text/plain; charset=utf-8"
    assert service.seen == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({"status": ["5xx"]}, 'strconv.Atoi: parsing "5xx": invalid syntax', id="bad-range"),
        pytest.param({"status": ["500-"]}, 'strconv.Atoi: parsing "": invalid syntax', id="open-range"),
        pytest.param({"status": ["500"], "service": "nope"}, 'the service "nope@file" does not exist', id="service"),
        pytest.param({"status": ["500"], "service": ""}, 'the service "@file" does not exist', id="no-service"),
        pytest.param({"status": ["500"], "statusRewrites": {"500": 42}}, "invalid status code 42", id="rewrite"),
    ],
)
def test_configuration_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _build(options, Upstream(), ErrorService())


def test_parse_code_ranges() -> None:
    assert parse_code_ranges(["500-599", "404", "401,403-404", "+418"]) == (
        (500, 599),
        (404, 404),
        (401, 401),
        (403, 404),
        (418, 418),
    )
