"""``replacePath``: request path in → upstream path and ``X-Replaced-Path`` out (Traefik ``replace_path_test.go``)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hanzo_edge.config.dynamic import decode_dynamic
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response
from hanzo_edge.middlewares.base import BuildContext, factory_for


def _config(options: dict[str, Any]) -> Any:
    config, _ = decode_dynamic({"http": {"middlewares": {"m": {"replacePath": options}}}})
    return config.http.middlewares["m"].config


class Backend:
    """A fake ``next``: records the request it got and answers 200."""

    def __init__(self) -> None:
        self.seen: list[Request] = []

    async def __call__(self, req: Request) -> Response:
        self.seen.append(req)
        return Response(200, Headers(), b"ok")


@pytest.mark.parametrize(
    ("new_path", "path", "query", "status", "upstream", "replaced", "body"),
    [
        pytest.param("/replaced-path", "/example", "", 200, "/replaced-path", "/example", None, id="simple"),
        pytest.param("/replaced-path", "/some/really/long/path", "", 200, "/replaced-path", None, None, id="long"),
        pytest.param("/replaced-path", "/example", "x=1&y", 200, "/replaced-path", "/example", None, id="query-kept"),
        pytest.param("/foo%2Fbar", "/path", "", 200, "/foo%2Fbar", "/path", None, id="escaped-new-path-kept"),
        pytest.param("/a b", "/path", "", 200, "/a%20b", "/path", None, id="new-path-escaped-like-go"),
        pytest.param("/x", "/aaa%2Fbbb", "", 200, "/x", "/aaa%2Fbbb", None, id="old-escaped-path-in-header"),
        pytest.param("/foo%zz", "/path", "", 500, None, "/path", b'invalid URL escape "%zz"\n', id="bad-escape-is-500"),
        pytest.param("/foo%2", "/path", "", 500, None, "/path", b'invalid URL escape "%2"\n', id="short-escape-500"),
    ],
)
def test_replace_path(
    new_path: str, path: str, query: str, status: int, upstream: str | None, replaced: str | None, body: bytes | None
) -> None:
    factory = factory_for("replacePath")
    assert factory is not None
    backend = Backend()
    handler = factory(backend, _config({"path": new_path}), name="m@file", ctx=BuildContext())
    req = Request("GET", path, Headers([(b"Host", b"h")]), path=path, query=query)
    response = asyncio.run(handler(req))  # type: ignore[arg-type]
    assert response.status == status
    assert req.headers.get_all("X-Replaced-Path") == [replaced or path]
    if status != 200:
        assert backend.seen == []
        assert response.body == body
        assert response.headers.get("Content-Type") == "text/plain; charset=utf-8"
        return
    (seen,) = backend.seen
    assert (seen.path, seen.query) == (upstream, query)
