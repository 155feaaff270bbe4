"""``redirectRegex``: request URL in → status and ``Location`` out (Traefik ``redirect_regex_test.go``).

Go's test requests use absolute URLs with an empty request URI; a real request always has one (``/`` at least).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hanzo_edge.config.dynamic import decode_dynamic
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response
from hanzo_edge.middlewares.base import BuildContext, factory_for

FOO_COM = r"^(?:http?:\/\/)(foo)(\.com)(:\d+)(.*)$"


def _config(options: dict[str, Any]) -> Any:
    config, _ = decode_dynamic({"http": {"middlewares": {"m": {"redirectRegex": options}}}})
    return config.http.middlewares["m"].config


class Backend:
    """A fake ``next``: records the request it got and answers 200."""

    def __init__(self) -> None:
        self.seen: list[Request] = []

    async def __call__(self, req: Request) -> Response:
        self.seen.append(req)
        return Response(200, Headers(), b"passed")


def _request(host: str, path: str = "/", *, method: str = "GET", tls: bool = False, xfp: str | None = None) -> Request:
    raw = [(b"Host", host.encode())]
    if xfp is not None:
        raw.append((b"X-Forwarded-Proto", xfp.encode()))
    path, _, query = path.partition("?")
    target = f"{path}?{query}" if query else path
    return Request(method, target, Headers(raw), path=path, query=query, scheme="https" if tls else "http")


def _build(options: dict[str, Any]) -> tuple[Any, Backend]:
    factory = factory_for("redirectRegex")
    assert factory is not None
    backend = Backend()
    return factory(backend, _config(options), name="m@file", ctx=BuildContext()), backend


def _rx(regex: str, replacement: str, permanent: bool = False) -> dict[str, Any]:
    return {"regex": regex, "replacement": replacement, "permanent": permanent}


@pytest.mark.parametrize(
    ("options", "req", "status", "location"),
    [
        pytest.param(
            _rx(FOO_COM, "https://${1}bar$2:443$4"), _request("foo.com:80"), 302, "https://foobar.com:443/", id="simple"
        ),
        pytest.param(_rx(FOO_COM, "https://${1}bar$2:443$4"), _request("bar.com:80"), 200, None, id="no-match"),
        pytest.param(_rx("^(.*)$", "http://192.168.0.%31/"), _request("foo.com:80"), 502, None, id="invalid-url"),
        pytest.param(_rx("^http://", "https://$1", True), _request("foo"), 301, "https://foo/", id="permanent"),
        pytest.param(
            _rx("https://foo", "http://foo", True), _request("foo", tls=True), 301, "http://foo/", id="https-to-http"
        ),
        pytest.param(_rx("http://foo:80", "https://foo:443"), _request("foo:80"), 302, "https://foo:443/", id="ports"),
        pytest.param(
            _rx("http://foo:80", "https://foo:443"), _request("foo:80", xfp="https"), 302, "https://foo:443/",
            id="x-forwarded-proto-ignored",
        ),
        pytest.param(
            _rx("https://foo:443", "http://foo:80"), _request("foo:443", tls=True), 302, "http://foo:80/", id="tls"
        ),
        pytest.param(_rx("http://foo:80", "http://foo:88"), _request("foo:80"), 302, "http://foo:88/", id="http"),
        pytest.param(_rx("^http://", "https://$1"), _request("foo", method="POST"), 307, "https://foo/", id="post"),
        pytest.param(
            _rx("^http://", "https://$1", True), _request("foo", method="POST"), 308, "https://foo/", id="post-perm"
        ),
        pytest.param(_rx("^http://foo/", "http://foo/"), _request("foo"), 200, None, id="same-url-passes"),
        pytest.param(
            _rx(r"^http://(?P<h>[^/]+)/old/(.*)", "https://$h/new/${2}x"), _request("a.test", "/old/p?q=1"), 302,
            "https://a.test/new/p?q=1x", id="named-group-and-query",
        ),
        pytest.param(
            _rx("^http://foo/(.*)", "HTTPS://Foo/a b/$1"), _request("foo", "/x"), 302, "https://Foo/a%20b/x",
            id="location-normalised-like-go",
        ),
    ],
)  # fmt: skip
def test_redirect_regex(options: dict[str, Any], req: Request, status: int, location: str | None) -> None:
    handler, backend = _build(options)
    response = asyncio.run(handler(req))
    assert response.status == status
    assert response.headers.get("Location") == location
    if status == 200:
        assert backend.seen == [req]
        return
    assert backend.seen == []
    texts = {301: "Moved Permanently", 302: "Found", 307: "Temporary Redirect", 308: "Permanent Redirect"}
    assert response.body == texts.get(status, "Bad Gateway").encode()


def test_invalid_regex_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="error parsing regexp"):
        _build(_rx("^(.*", "$1"))
