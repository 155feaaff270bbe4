"""``replacePathRegex``: escaped path in → upstream path, ``X-Replaced-Path`` and status out.

The main table is Traefik's ``replace_path_regex_test.go`` (upstream paths are the escaped form Go would send),
plus Go's ``Regexp.Expand`` corner cases and the 400/500 answers.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hanzo_edge.config.dynamic import decode_dynamic
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response
from hanzo_edge.middlewares.base import BuildContext, factory_for


def _config(options: dict[str, Any]) -> Any:
    config, _ = decode_dynamic({"http": {"middlewares": {"m": {"replacePathRegex": options}}}})
    return config.http.middlewares["m"].config


class Backend:
    """A fake ``next``: records the request it got and answers 200."""

    def __init__(self) -> None:
        self.seen: list[Request] = []

    async def __call__(self, req: Request) -> Response:
        self.seen.append(req)
        return Response(200, Headers(), b"ok")


def _build(regex: str, replacement: str) -> tuple[Any, Backend]:
    factory = factory_for("replacePathRegex")
    assert factory is not None
    backend = Backend()
    config = _config({"regex": regex, "replacement": replacement})
    return factory(backend, config, name="m@file", ctx=BuildContext()), backend


@pytest.mark.parametrize(
    ("regex", "replacement", "path", "status", "upstream", "replaced"),
    [
        pytest.param(
            r"^/whoami/(.*)", "/who-am-i/$1", "/whoami/and/whoami", 200, "/who-am-i/and/whoami",
            "/whoami/and/whoami", id="simple-regex",
        ),
        pytest.param(
            "/whoami", "/who-am-i", "/whoami/and/whoami", 200, "/who-am-i/and/who-am-i", "/whoami/and/whoami",
            id="replace-all-matches",
        ),
        pytest.param("/no-match", "/whoami", "/whoami/and/whoami", 200, "/whoami/and/whoami", None, id="no-match"),
        pytest.param(
            r"^(?i)/downloads/([^/]+)/([^/]+)$", "/downloads/$1-$2", "/downloads/src/source.go", 200,
            "/downloads/src-source.go", "/downloads/src/source.go", id="multiple-groups",
        ),
        pytest.param("/aaa/bbb", "/foo%2Fbar", "/aaa/bbb", 200, "/foo%2Fbar", "/aaa/bbb", id="escaped-replacement"),
        pytest.param("/aaa%2Fbbb", "/foo/bar", "/aaa%2Fbbb", 200, "/foo/bar", "/aaa%2Fbbb", id="escaped-path-match"),
        pytest.param("/aaa/bbb", "/foo/bar", "/aaa%2Fbbb", 200, "/aaa%2Fbbb", None, id="escaped-path-no-match"),
        pytest.param(r"^/foo/(.*)", "/$1", "/foo/%08bar", 200, "/%08bar", "/foo/%08bar", id="escaped-control"),
        pytest.param("/whoami", "", "/whoami/x", 200, "/whoami/x", None, id="empty-replacement-is-a-no-op"),
        pytest.param(r"^/(\w+)/(.*)", "/p$1x/$2", "/a/b", 200, "/p/b", "/a/b", id="dollar-1x-is-group-named-1x"),
        pytest.param(r"^/(\w+)/(.*)", "/${1}x/$2", "/a/b", 200, "/ax/b", "/a/b", id="braces"),
        pytest.param(r"^/(?P<v>v\d)/(?<rest>.*)", "/$rest/$v", "/v1/x", 200, "/x/v1", "/v1/x", id="named-groups"),
        pytest.param(r"^/(.*)", "/$$-$9-$1", "/a", 200, "/$--a", "/a", id="dollar-dollar-and-missing-group"),
        pytest.param("a*", "-", "/baaac", 200, "-/-b-c-", "/baaac", id="go-empty-match-rule"),
        pytest.param(r"^/x(.*)", "/y$1", "/x a", 200, "/y%20a", "/x a", id="result-escaped-like-go"),
        pytest.param(r"^/x", "/%zz", "/x", 500, None, "/x", id="bad-escape-500"),
        pytest.param(r"^/x/(.*)", "/$1/../../etc", "/x/a", 400, None, "/x/a", id="dot-dot-400"),
        pytest.param(r"^/x", "//y", "/x", 400, None, "/x", id="double-slash-400"),
    ],
)  # fmt: skip
def test_replace_path_regex(
    regex: str, replacement: str, path: str, status: int, upstream: str | None, replaced: str | None
) -> None:
    handler, backend = _build(regex, replacement)
    req = Request("GET", path + "?q=1", Headers([(b"Host", b"h")]), path=path, query="q=1")
    response = asyncio.run(handler(req))
    assert response.status == status
    assert req.headers.get_all("X-Replaced-Path") == ([replaced] if replaced else [])
    if status != 200:
        assert backend.seen == []
        expected = b'invalid URL escape "%zz"\n' if status == 500 else b"Bad Request\n"
        assert response.body == expected
        return
    (seen,) = backend.seen
    assert (seen.path, seen.query) == (upstream, "q=1")


@pytest.mark.parametrize("regex", [r"^(?err)/invalid/regexp/([^/]+)$", "/a(b", r"\1"])
def test_invalid_regex_is_a_configuration_error(regex: str) -> None:
    with pytest.raises(ValueError, match="error compiling regular expression"):
        _build(regex, "/x")
