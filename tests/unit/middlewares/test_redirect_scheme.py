"""``redirectScheme``: request (Host, TLS, X-Forwarded-Proto, method) in → status and ``Location`` out.

The main table is Traefik's ``redirect_scheme_test.go``. Go's test requests use absolute URLs with an empty
request URI; a real request always has one, so the expected locations here end in ``/``.
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
    config, _ = decode_dynamic({"http": {"middlewares": {"m": {"redirectScheme": options}}}})
    return config.http.middlewares["m"].config


class Backend:
    """A fake ``next``: records the request it got and answers 200."""

    def __init__(self) -> None:
        self.seen: list[Request] = []

    async def __call__(self, req: Request) -> Response:
        self.seen.append(req)
        return Response(200, Headers(), b"passed")


def _request(
    host: str, path: str = "/", *, method: str = "GET", tls: bool = False, xfp: str | None = None, target: str = ""
) -> Request:
    raw = [(b"Host", host.encode())]
    if xfp is not None:
        raw.append((b"X-Forwarded-Proto", xfp.encode()))
    path, _, query = path.partition("?")
    return Request(
        method,
        target or (f"{path}?{query}" if query else path),
        Headers(raw),
        path=path,
        query=query,
        host=host.lower(),
        scheme="https" if tls else "http",
    )


def _run(options: dict[str, Any], req: Request) -> tuple[Response, Backend]:
    factory = factory_for("redirectScheme")
    assert factory is not None
    backend = Backend()
    handler = factory(backend, _config(options), name="m@file", ctx=BuildContext())
    return asyncio.run(handler(req)), backend  # type: ignore[arg-type]


HTTPS = {"scheme": "https"}
HTTPS_8443 = {"scheme": "https", "port": "8443"}


@pytest.mark.parametrize(
    ("options", "req", "status", "location"),
    [
        pytest.param(HTTPS, _request("foo"), 302, "https://foo/", id="http-to-https"),
        pytest.param(HTTPS, _request("foo", xfp="http"), 302, "https://foo/", id="xfp-http"),
        pytest.param(HTTPS, _request("foo", xfp="https"), 200, None, id="xfp-https-passes"),
        pytest.param(HTTPS, _request("foo", xfp="bar"), 302, "https://foo/", id="xfp-unknown-ignored"),
        pytest.param(HTTPS, _request("foo", xfp="ws"), 302, "https://foo/", id="xfp-ws"),
        pytest.param(HTTPS, _request("foo", xfp="wss"), 200, None, id="xfp-wss-passes"),
        pytest.param(HTTPS, _request("foo", xfp="HTTPS"), 200, None, id="xfp-case-insensitive"),
        pytest.param(HTTPS, _request("foo", tls=True, xfp="http"), 302, "https://foo/", id="xfp-overrides-tls"),
        pytest.param(HTTPS, _request("foo:8080"), 302, "https://foo/", id="port-dropped"),
        pytest.param(HTTPS_8443, _request("foo"), 302, "https://foo:8443/", id="port-added"),
        pytest.param(HTTPS_8443, _request("foo:8000"), 302, "https://foo:8443/", id="port-replaced"),
        pytest.param(HTTPS_8443, _request("foo:8000", tls=True), 302, "https://foo:8443/", id="https-port-replaced"),
        pytest.param(HTTPS_8443, _request("foo:8443", tls=True), 200, None, id="already-there"),
        pytest.param(HTTPS, _request("foo:8000", tls=True), 302, "https://foo/", id="https-port-not-kept"),
        pytest.param(
            HTTPS, _request("foo:8000", "/theother", tls=True), 302, "https://foo/theother", id="https-path-kept"
        ),
        pytest.param({**HTTPS_8443, "permanent": True}, _request("foo"), 301, "https://foo:8443/", id="permanent-get"),
        pytest.param({"scheme": "http", "port": "80"}, _request("foo:80"), 200, None, id="http-80-passes"),
        pytest.param({"scheme": "https", "port": "443"}, _request("foo:443", tls=True), 200, None, id="https-443"),
        pytest.param({"scheme": "wss", "port": "9443"}, _request("foo"), 302, "wss://foo:9443/", id="to-wss-port"),
        pytest.param({"scheme": "wss"}, _request("foo"), 302, "wss://foo/", id="to-wss"),
        pytest.param({"scheme": "wss"}, _request("foo:5678"), 302, "wss://foo/", id="to-wss-port-dropped"),
        pytest.param(HTTPS, _request("foo:443"), 302, "https://foo/", id="http-on-443"),
        pytest.param({"scheme": "http", "port": "8181"}, _request("foo:8080"), 302, "http://foo:8181/", id="http-port"),
        pytest.param(HTTPS, _request("foo:80", tls=True), 302, "https://foo/", id="https-on-80"),
        pytest.param(HTTPS, _request("[::1]"), 302, "https://[::1]/", id="ipv6"),
        pytest.param(HTTPS_8443, _request("[::1]"), 302, "https://[::1]:8443/", id="ipv6-port"),
        pytest.param(HTTPS, _request("[::1]:80"), 302, "https://[::1]/", id="ipv6-80"),
        pytest.param(HTTPS_8443, _request("[::1]:80"), 302, "https://[::1]:8443/", id="ipv6-80-port"),
        pytest.param(HTTPS, _request("foo", method="POST"), 307, "https://foo/", id="post-temporary"),
        pytest.param({**HTTPS, "permanent": True}, _request("foo", method="PUT"), 308, "https://foo/", id="put-perm"),
        pytest.param(HTTPS, _request("Foo.Example", "/a/b?x=1&y"), 302, "https://Foo.Example/a/b?x=1&y", id="uri"),
        pytest.param(HTTPS, _request("foo", "/a%2Fb"), 302, "https://foo/a%2Fb", id="escapes-kept"),
        pytest.param(HTTPS, _request("foo", ""), 302, "https://foo/", id="empty-path-is-slash"),
        pytest.param(
            HTTPS, _request("ignored", "/p", target="http://bar:8080/p"), 302, "https://bar/p", id="absolute-form"
        ),
    ],
)
def test_redirect_scheme(options: dict[str, Any], req: Request, status: int, location: str | None) -> None:
    response, backend = _run(options, req)
    assert response.status == status
    assert response.headers.get("Location") == location
    if location is None:
        assert backend.seen == [req]
        return
    assert backend.seen == []
    assert response.body == {301: b"Moved Permanently", 302: b"Found", 307: b"Temporary Redirect"}.get(
        status, b"Permanent Redirect"
    )
    assert response.headers.get("Content-Type") is None  # Traefik writes the text with sniffing disabled


def test_scheme_is_required() -> None:
    factory = factory_for("redirectScheme")
    assert factory is not None
    with pytest.raises(ValueError, match="you must provide a target scheme"):
        factory(Backend(), _config({"port": "443"}), name="m@file", ctx=BuildContext())
