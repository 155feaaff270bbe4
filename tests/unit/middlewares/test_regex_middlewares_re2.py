"""The regexp middlewares on RE2: Go syntax that the old hand translation to ``re`` refused now works as in Traefik,
and the pattern that makes backtracking ``re`` take seconds answers at once in every one of them."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hanzo_edge.config.dynamic import decode_dynamic
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response
from hanzo_edge.middlewares.base import BuildContext, factory_for

P = pytest.param
PATHOLOGICAL = "^/files/([a-z0-9]+-?)+/download$"
SLOW_PATH = "/files/" + "a" * 4000 + "!"  # no match; Python's re would backtrack for ever


class Backend:
    """A fake ``next``: records the path and headers it got and answers 200."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.headers: list[Headers] = []

    async def __call__(self, req: Request) -> Response:
        self.paths.append(req.path)
        self.headers.append(req.headers)
        return Response(200, Headers(), b"ok")


def _run(kind: str, options: dict[str, Any], path: str, headers: tuple[tuple[bytes, bytes], ...] = ()) -> Response:
    config, _ = decode_dynamic({"http": {"middlewares": {"m": {kind: options}}}})
    factory = factory_for(kind)
    assert factory is not None
    handler = factory(BACKEND, config.http.middlewares["m"].config, name="m@file", ctx=BuildContext())
    request = Request("GET", path, Headers([(b"Host", b"example.com"), *headers]), host="example.com")
    return asyncio.run(handler(request))  # type: ignore[no-any-return]


BACKEND = Backend()


@pytest.fixture(autouse=True)
def _fresh_backend() -> None:
    BACKEND.paths.clear()
    BACKEND.headers.clear()


@pytest.mark.parametrize(
    ("regex", "replacement", "path", "upstream"),
    [
        P("(?U)^/(.+)/", "/$1-", "/x/y/z", "/x-y/z", id="ungreedy-flag"),
        P(r"^/(\pL+)/", "/lang-$1/", "/abc/page", "/lang-abc/page", id="unicode-class"),
        P("^/([[:^digit:]]+)/[0-9]+$", "/$1", "/items/42", "/items", id="negated-posix-class"),
        P("^/(?P<a>x)|^/(?P<a>y)", "/${a}!", "/x", "/x!", id="duplicate-name-leftmost-group"),
        P(PATHOLOGICAL, "/dl", "/files/a-b-c/download", "/dl", id="pathological-match"),
        P(PATHOLOGICAL, "/dl", SLOW_PATH, SLOW_PATH, id="pathological-no-match"),
    ],
)
def test_replace_path_regex(regex: str, replacement: str, path: str, upstream: str) -> None:
    response = _run("replacePathRegex", {"regex": regex, "replacement": replacement}, path)
    assert response.status == 200
    assert BACKEND.paths == [upstream]


@pytest.mark.parametrize(
    ("regex", "path", "upstream", "prefix"),
    [
        P(r"^/\pL+", "/api/users", "/users", "/api", id="unicode-class"),
        P("^/[[:^digit:]]+/", "/v/1", "/1", "/v/", id="negated-posix-class"),
        P("^/files/([a-z0-9]+-?)+/", SLOW_PATH, SLOW_PATH, None, id="pathological-no-match"),
        P("^/files/([a-z0-9]+-?)+/", "/files/a-b/download", "/download", "/files/a-b/", id="pathological-match"),
    ],
)
def test_strip_prefix_regex(regex: str, path: str, upstream: str, prefix: str | None) -> None:
    response = _run("stripPrefixRegex", {"regex": [regex]}, path)
    assert response.status == 200
    assert BACKEND.paths == [upstream]
    assert BACKEND.headers[0].get("X-Forwarded-Prefix") == prefix


@pytest.mark.parametrize(
    ("regex", "path", "status", "location"),
    [
        P(r"^http://[[:^space:]]+/old/(?P<rest>.*)$", "/old/a", 302, "https://new.example/a", id="negated-posix"),
        P(r"^http://(\pL+)\.com/(.*)$", "/x", 302, "https://new.example/example/x", id="unicode-class"),
        P(r"^http://example\.com/files/([a-z0-9]+-?)+/download$", SLOW_PATH, 200, None, id="pathological-no-match"),
    ],
)
def test_redirect_regex(regex: str, path: str, status: int, location: str | None) -> None:
    replacement = "https://new.example/${rest}" if "rest" in regex else "https://new.example/$1/$2"
    response = _run("redirectRegex", {"regex": regex, "replacement": replacement}, path)
    assert response.status == status
    assert response.headers.get("Location") == location


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        P("https://ábc.example.com", True, id="unicode-lower-case-letters"),
        P("https://ABC.example.com", False, id="upper-case-refused"),
        P("https://" + "a" * 4000 + "!.example.com", False, id="pathological-no-match"),
    ],
)
def test_headers_origin_regex(origin: str, allowed: bool) -> None:
    options = {
        "accessControlAllowOriginListRegex": [r"^https://(\p{Ll}+-?)+\.example\.com$"],
        "accessControlAllowMethods": ["GET"],
    }
    response = _run("headers", options, "/", ((b"Origin", origin.encode("latin-1")),))
    assert response.headers.get("Access-Control-Allow-Origin") == (origin if allowed else None)
