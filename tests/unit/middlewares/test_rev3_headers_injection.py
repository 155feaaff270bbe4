"""Review 3 (issue 22): the headers middleware's build-time encoding of custom headers.

``customRequestHeaders`` values were encoded per request: one outside Latin-1 failed every request, and a CR or LF
started a header line of its own on the backend connection. Go's transport refuses both on every request (a 502
each); here they are configuration errors naming the header. ``customResponseHeaders`` are written as Go's server
writes them: CR/LF in a value become spaces, a name that is no token is dropped. An empty request value still deletes
the header, as Traefik.
"""

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


def _request(*headers: tuple[bytes, bytes]) -> Request:
    return Request(
        "GET", "/", Headers([(b"Host", b"example.org"), *headers]), path="/", host="example.org", scheme="http"
    )


async def _echo(req: Request) -> Response:
    return Response(200, Headers([(b"Content-Length", b"0")]), b"")


@pytest.mark.parametrize(
    ("header", "value", "why"),
    [
        ("X-A", "v\r\nX-Injected: 1", "control character"),
        ("X-A", "v\nGET /admin HTTP/1.1", "control character"),
        ("X-A", "nul\x00", "control character"),
        ("X-A", "snow \u2603", "outside Latin-1"),
        ("X A", "v", "not a valid header name"),
        ("X-A:", "v", "not a valid header name"),
        ("Host", "a.test\r\nX-Injected: 1", "control character"),
    ],
)
def test_a_request_header_go_would_refuse_is_a_configuration_error(header: str, value: str, why: str) -> None:
    with pytest.raises(ValueError, match=rf"customRequestHeaders '{header}'.*{why}"):
        _handler({"customRequestHeaders": {header: value}}, _echo)


def test_a_request_header_value_with_a_tab_is_fine_and_an_empty_one_deletes() -> None:
    seen: list[list[tuple[bytes, bytes]]] = []

    async def backend(req: Request) -> Response:
        seen.append(list(req.headers.raw))
        return await _echo(req)

    handler = _handler({"customRequestHeaders": {"X-Tab": "a\tb", "X-Gone": ""}}, backend)
    asyncio.run(handler(_request((b"X-Gone", b"1"), (b"x-gone", b"2"))))
    assert (b"X-Tab", b"a\tb") in seen[0]
    assert all(name.lower() != b"x-gone" for name, _ in seen[0])


def test_a_response_header_value_cannot_start_a_header_line() -> None:
    handler = _handler({"customResponseHeaders": {"X-A": "v\r\nSet-Cookie: admin=1 ", "Bad Name": "x"}}, _echo)
    resp = asyncio.run(handler(_request()))
    assert resp.headers.get("X-A") == "v  Set-Cookie: admin=1"  # Go's headerNewlineToSpace, then trimmed
    assert resp.headers.get("Set-Cookie") is None
    assert all(b"\r" not in v and b"\n" not in v for _, v in resp.headers.raw)
    assert all(name != b"Bad Name" for name, _ in resp.headers.raw)  # Go's writeSubset drops it
