"""``stripPrefixRegex``: request path in → upstream path, ``X-Forwarded-Prefix`` and status out.

The main table is Traefik's ``strip_prefix_regex_test.go`` (paths here are the escaped form that goes upstream).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hanzo_edge.config.dynamic import decode_dynamic
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response
from hanzo_edge.middlewares.base import BuildContext, factory_for

TRAEFIK_REGEX = ["/a/api/", "/b/([a-z0-9]+)/", "/c/[a-z0-9]+/[0-9]+/"]


def _config(options: dict[str, Any]) -> Any:
    config, _ = decode_dynamic({"http": {"middlewares": {"m": {"stripPrefixRegex": options}}}})
    return config.http.middlewares["m"].config


class Backend:
    """A fake ``next``: records the request it got and answers 200."""

    def __init__(self) -> None:
        self.seen: list[Request] = []

    async def __call__(self, req: Request) -> Response:
        self.seen.append(req)
        return Response(200, Headers(), b"ok")


def _run(regex: list[str], path: str, query: str = "") -> tuple[Response, Backend]:
    factory = factory_for("stripPrefixRegex")
    assert factory is not None
    backend = Backend()
    handler = factory(backend, _config({"regex": regex}), name="m@file", ctx=BuildContext())
    target = f"{path}?{query}" if query else path
    req = Request("GET", target, Headers([(b"Host", b"localhost")]), path=path, query=query, host="localhost")
    return asyncio.run(handler(req)), backend  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("regex", "path", "status", "upstream", "prefix"),
    [
        pytest.param(TRAEFIK_REGEX, "/a/test", 200, "/a/test", None, id="no-match"),
        pytest.param(TRAEFIK_REGEX, "/a/test/", 200, "/a/test/", None, id="no-match-slash"),
        pytest.param(TRAEFIK_REGEX, "/a/api/", 200, "", "/a/api/", id="whole-path"),
        pytest.param(TRAEFIK_REGEX, "/a/api/test", 200, "/test", "/a/api/", id="literal"),
        pytest.param(TRAEFIK_REGEX, "/a/api/test/", 200, "/test/", "/a/api/", id="literal-slash"),
        pytest.param(TRAEFIK_REGEX, "/b/api/", 200, "", "/b/api/", id="group-whole"),
        pytest.param(TRAEFIK_REGEX, "/b/api", 200, "/b/api", None, id="group-no-match"),
        pytest.param(TRAEFIK_REGEX, "/b/api/test1", 200, "/test1", "/b/api/", id="group"),
        pytest.param(TRAEFIK_REGEX, "/b/api2/test2", 200, "/test2", "/b/api2/", id="group-2"),
        pytest.param(TRAEFIK_REGEX, "/c/api/123/", 200, "", "/c/api/123/", id="class-whole"),
        pytest.param(TRAEFIK_REGEX, "/c/api/123", 200, "/c/api/123", None, id="class-no-match"),
        pytest.param(TRAEFIK_REGEX, "/c/api/123/test3", 200, "/test3", "/c/api/123/", id="class"),
        pytest.param(TRAEFIK_REGEX, "/c/api/abc/test4", 200, "/c/api/abc/test4", None, id="class-mismatch"),
        pytest.param(TRAEFIK_REGEX, "/a/api/a%2Fb", 200, "/a%2Fb", "/a/api/", id="escaped-rest-kept"),
        pytest.param(["/a b/"], "/a%20b/c", 200, "/c", "/a b/", id="match-on-decoded-path"),
        pytest.param(["api/"], "/x/api/y", 200, "/x/api/y", None, id="match-not-a-prefix"),
        pytest.param(["/v[0-9]"], "/v1x", 200, "/x", "/v1", id="leading-slash-added"),
        pytest.param(["  /api  "], "/api/x", 200, "/x", "/api", id="spaces-trimmed"),
        pytest.param(["/nope", "/a", "/a/b"], "/a/b/c", 200, "/b/c", "/a", id="first-in-list-wins"),
        pytest.param(["x*"], "/a", 200, "/a", None, id="empty-match-ignored"),
        pytest.param(["/api"], "/api/..", 400, None, None, id="normalisation-changes-path"),
        pytest.param(["/api"], "/api//x", 400, None, None, id="double-slash"),
        pytest.param([], "/api/x", 200, "/api/x", None, id="no-expressions"),
    ],
)
def test_strip_prefix_regex(regex: list[str], path: str, status: int, upstream: str | None, prefix: str | None) -> None:
    response, backend = _run(regex, path)
    assert response.status == status
    if status != 200:
        assert backend.seen == []
        assert response.body == b"Bad Request\n"
        return
    (seen,) = backend.seen
    assert seen.path == upstream
    assert seen.headers.get_all("X-Forwarded-Prefix") == ([prefix] if prefix else [])


def test_query_is_kept_and_prefix_header_is_added_not_replaced() -> None:
    factory = factory_for("stripPrefixRegex")
    assert factory is not None
    backend = Backend()
    handler = factory(backend, _config({"regex": ["/api"]}), name="m@file", ctx=BuildContext())
    headers = Headers([(b"Host", b"h"), (b"X-Forwarded-Prefix", b"/outer")])
    req = Request("GET", "/api/x?q=1", headers, path="/api/x", query="q=1")
    assert asyncio.run(handler(req)).status == 200  # type: ignore[arg-type]
    assert (req.path, req.query) == ("/x", "q=1")
    assert req.headers.get_all("X-Forwarded-Prefix") == ["/outer", "/api"]


def test_invalid_regex_is_a_configuration_error() -> None:
    factory = factory_for("stripPrefixRegex")
    assert factory is not None
    with pytest.raises(ValueError, match="error parsing regexp"):
        factory(Backend(), _config({"regex": ["/a(b"]}), name="m@file", ctx=BuildContext())
