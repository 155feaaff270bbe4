"""``headers``: custom headers, CORS (preflight and actual requests) and security headers, request in → response out.

Cases follow Traefik's ``header_test.go`` / ``secure_test.go`` and the reference notes §4.3.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hanzo_edge.config.dynamic import decode_dynamic
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response
from hanzo_edge.middlewares.base import BuildContext, factory_for
from hanzo_edge.middlewares.headers import canonical_header_key

ORIGIN = "https://foo.bar.org"


def _config(options: dict[str, Any]) -> Any:
    config, _ = decode_dynamic({"http": {"middlewares": {"m": {"headers": options}}}})
    return config.http.middlewares["m"].config


class Backend:
    """A fake ``next``: records the request and answers 200 with canned headers."""

    def __init__(self, headers: tuple[tuple[str, str], ...] = (), status: int = 200) -> None:
        self.headers = headers
        self.status = status
        self.seen: list[Request] = []

    async def __call__(self, req: Request) -> Response:
        self.seen.append(req)
        raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in self.headers]
        return Response(self.status, Headers(raw), b"backend")


def _request(
    method: str = "GET", headers: tuple[tuple[str, str], ...] = (), scheme: str = "http", host: str = "example.org"
) -> Request:
    raw = [(b"Host", host.encode())] + [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    return Request(method, "/foo?x=1", Headers(raw), path="/foo", query="x=1", host=host, scheme=scheme)


def _run(options: dict[str, Any], req: Request, backend: Backend) -> Response:
    factory = factory_for("headers")
    assert factory is not None
    handler = factory(backend, _config(options), name="m@file", ctx=BuildContext())
    return asyncio.run(handler(req))  # type: ignore[arg-type]


PREFLIGHT = (("Origin", ORIGIN), ("Access-Control-Request-Method", "GET"), ("Access-Control-Request-Headers", "origin"))


@pytest.mark.parametrize(
    ("options", "request_headers", "expected"),
    [
        pytest.param(
            {
                "accessControlAllowMethods": ["GET", "OPTIONS", "PUT"],
                "accessControlAllowOriginList": [ORIGIN],
                "accessControlMaxAge": 600,
            },
            PREFLIGHT,
            {
                "Access-Control-Allow-Origin": ORIGIN,
                "Access-Control-Max-Age": "600",
                "Access-Control-Allow-Methods": "GET,OPTIONS,PUT",
            },
            id="simple",
        ),
        pytest.param(
            {
                "accessControlAllowMethods": ["GET", "OPTIONS", "PUT"],
                "accessControlAllowOriginList": ["*"],
                "accessControlMaxAge": 600,
            },
            PREFLIGHT,
            {
                "Access-Control-Allow-Origin": "*",
                "Access-Control-Max-Age": "600",
                "Access-Control-Allow-Methods": "GET,OPTIONS,PUT",
            },
            id="wildcard-origin",
        ),
        pytest.param(
            {
                "accessControlAllowMethods": ["GET", "OPTIONS", "PUT"],
                "accessControlAllowOriginList": ["*"],
                "accessControlAllowCredentials": True,
                "accessControlMaxAge": 600,
            },
            PREFLIGHT,
            {
                "Access-Control-Allow-Origin": ORIGIN,
                "Access-Control-Max-Age": "600",
                "Access-Control-Allow-Methods": "GET,OPTIONS,PUT",
                "Access-Control-Allow-Credentials": "true",
            },
            id="credentials-echo-origin-for-wildcard",
        ),
        pytest.param(
            {
                "accessControlAllowMethods": ["GET", "OPTIONS", "PUT"],
                "accessControlAllowOriginList": ["*"],
                "accessControlAllowHeaders": ["origin", "X-Forwarded-For"],
                "accessControlMaxAge": 600,
            },
            PREFLIGHT,
            {
                "Access-Control-Allow-Origin": "*",
                "Access-Control-Max-Age": "600",
                "Access-Control-Allow-Methods": "GET,OPTIONS,PUT",
                "Access-Control-Allow-Headers": "origin,X-Forwarded-For",
            },
            id="allow-headers",
        ),
        pytest.param(
            {
                "accessControlAllowMethods": ["*"],
                "accessControlAllowHeaders": ["*"],
                "accessControlAllowOriginList": ["*"],
                "accessControlAllowCredentials": True,
            },
            (
                ("Origin", ORIGIN),
                ("Access-Control-Request-Method", "PUT"),
                ("Access-Control-Request-Headers", "x-a,x-b"),
            ),
            {
                "Access-Control-Allow-Origin": ORIGIN,
                "Access-Control-Max-Age": "0",
                "Access-Control-Allow-Methods": "PUT",
                "Access-Control-Allow-Headers": "x-a,x-b",
                "Access-Control-Allow-Credentials": "true",
            },
            id="credentials-echo-method-and-headers-for-wildcards",
        ),
        pytest.param(
            {
                "accessControlAllowMethods": ["*"],
                "accessControlAllowHeaders": ["*"],
                "accessControlAllowOriginList": ["*"],
            },
            PREFLIGHT,
            {
                "Access-Control-Allow-Origin": "*",
                "Access-Control-Max-Age": "0",
                "Access-Control-Allow-Methods": "*",
                "Access-Control-Allow-Headers": "*",
            },
            id="wildcards-sent-literally-without-credentials",
        ),
        pytest.param(
            {"accessControlAllowOriginList": [ORIGIN], "accessControlExposeHeaders": ["X-A", "X-B"]},
            PREFLIGHT,
            {
                "Access-Control-Allow-Origin": ORIGIN,
                "Access-Control-Max-Age": "0",
                "Access-Control-Expose-Headers": "X-A,X-B",
            },
            id="expose-headers-in-preflight",
        ),
        pytest.param(
            {
                "accessControlAllowOriginList": [ORIGIN],
                "accessControlExposeHeaders": ["*"],
                "accessControlAllowCredentials": True,
            },
            PREFLIGHT,
            {
                "Access-Control-Allow-Origin": ORIGIN,
                "Access-Control-Max-Age": "0",
                "Access-Control-Allow-Credentials": "true",
            },
            id="wildcard-expose-omitted-with-credentials",
        ),
        pytest.param(
            {"accessControlAllowOriginListRegex": [r"^https?://([a-z]+)\.bar\.org$"]},
            PREFLIGHT,
            {"Access-Control-Allow-Origin": ORIGIN, "Access-Control-Max-Age": "0"},
            id="regex-echoes-origin",
        ),
        pytest.param(
            {"accessControlAllowOriginList": ["https://other.org"], "accessControlAllowMethods": ["GET"]},
            PREFLIGHT,
            {"Access-Control-Max-Age": "0", "Access-Control-Allow-Methods": "GET"},
            id="origin-not-allowed",
        ),
    ],
)
def test_cors_preflight_is_answered_200_with_exactly_the_cors_headers(
    options: dict[str, Any], request_headers: tuple[tuple[str, str], ...], expected: dict[str, str]
) -> None:
    backend = Backend()
    options = {**options, "frameDeny": True, "customResponseHeaders": {"X-Custom": "v"}}
    resp = _run(options, _request("OPTIONS", request_headers), backend)
    assert resp.status == 200
    assert resp.body == b""
    assert dict(resp.headers) == expected, "no custom or security headers on a preflight"
    assert len(resp.headers) == len(expected)
    assert backend.seen == []


@pytest.mark.parametrize(
    ("options", "request_headers"),
    [
        pytest.param({"accessControlAllowOriginList": ["*"]}, (("Origin", ORIGIN),), id="no-request-method"),
        pytest.param(
            {"accessControlAllowOriginList": ["*"]}, (("Access-Control-Request-Method", "GET"),), id="no-origin"
        ),
        pytest.param({"customRequestHeaders": {"foo": "bar"}}, PREFLIGHT, id="custom-headers-only-not-hijacked"),
    ],
)
def test_options_that_is_not_a_cors_preflight_goes_to_the_backend(
    options: dict[str, Any], request_headers: tuple[tuple[str, str], ...]
) -> None:
    backend = Backend()
    resp = _run(options, _request("OPTIONS", request_headers), backend)
    assert resp.body == b"backend"
    assert len(backend.seen) == 1


@pytest.mark.parametrize(
    ("options", "request_headers", "backend_headers", "expected"),
    [
        pytest.param(
            {"accessControlAllowOriginList": [ORIGIN]},
            (("Origin", ORIGIN),),
            (),
            {"Access-Control-Allow-Origin": ORIGIN, "Vary": None},
            id="simple",
        ),
        pytest.param(
            {"accessControlAllowOriginList": ["*"]},
            (("Origin", ORIGIN),),
            (),
            {"Access-Control-Allow-Origin": "*"},
            id="wildcard",
        ),
        pytest.param(
            {"accessControlAllowOriginList": ["*"]},
            (),
            (),
            {"Access-Control-Allow-Origin": "*"},
            id="wildcard-without-origin",
        ),
        pytest.param(
            {"accessControlAllowOriginListRegex": [r"^https?://([a-z]+)\.bar\.org$"]},
            (("Origin", ORIGIN),),
            (),
            {"Access-Control-Allow-Origin": ORIGIN},
            id="regex",
        ),
        pytest.param(
            {"accessControlAllowOriginListRegex": [r"([a-z]+)\.bar"]},
            (("Origin", ORIGIN),),
            (),
            {"Access-Control-Allow-Origin": ORIGIN},
            id="partial-regex",
        ),
        pytest.param(
            {"accessControlAllowOriginListRegex": [r"([a-z]+)\.bar\.org"]},
            (("Origin", "https://bar.org"),),
            (),
            {"Access-Control-Allow-Origin": None},
            id="regex-no-match",
        ),
        pytest.param(
            {"accessControlAllowOriginList": [ORIGIN]}, (), (), {"Access-Control-Allow-Origin": None}, id="no-origin"
        ),
        pytest.param(
            {"accessControlAllowOriginList": ["*"], "accessControlAllowCredentials": True},
            (("Origin", ORIGIN),),
            (),
            {"Access-Control-Allow-Origin": ORIGIN, "Access-Control-Allow-Credentials": "true"},
            id="credentials-echo-origin",
        ),
        pytest.param(
            {"accessControlAllowOriginList": ["*"], "accessControlAllowCredentials": True},
            (),
            (),
            {"Access-Control-Allow-Origin": None, "Access-Control-Allow-Credentials": "true"},
            id="credentials-without-origin",
        ),
        pytest.param(
            {"accessControlAllowOriginList": ["*"], "accessControlExposeHeaders": ["origin", "X-Forwarded-For"]},
            (("Origin", ORIGIN),),
            (),
            {"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": "origin,X-Forwarded-For"},
            id="expose-headers",
        ),
        pytest.param(
            {"accessControlAllowOriginList": [ORIGIN], "addVaryHeader": True},
            (("Origin", ORIGIN),),
            (),
            {"Access-Control-Allow-Origin": ORIGIN, "Vary": "Origin"},
            id="vary",
        ),
        pytest.param(
            {"accessControlAllowOriginList": [ORIGIN], "addVaryHeader": True},
            (("Origin", ORIGIN),),
            (("Vary", "Testing"),),
            {"Vary": "Testing,Origin"},
            id="vary-appended",
        ),
        pytest.param(
            {"accessControlAllowOriginList": [ORIGIN], "addVaryHeader": True},
            (("Origin", ORIGIN),),
            (("Vary", "Origin"),),
            {"Vary": "Origin"},
            id="vary-already-origin",
        ),
        pytest.param(
            {"accessControlAllowOriginList": [ORIGIN], "addVaryHeader": True},
            (("Origin", ORIGIN),),
            (("Vary", "Accept-Encoding"), ("Vary", "Cookie")),
            {"Vary": "Accept-Encoding,Cookie,Origin"},
            id="vary-keeps-every-value",
        ),
        pytest.param(
            {"accessControlAllowOriginList": ["*"]},
            (("Origin", ORIGIN),),
            (("Access-Control-Allow-Origin", "http://foo.bar.org"),),
            {"Access-Control-Allow-Origin": "*"},
            id="backend-value-replaced",
        ),
        pytest.param(
            {"customResponseHeaders": {"Testing": "foo", "Testing2": "bar"}},
            (),
            (("Foo", "bar"),),
            {"Foo": "bar", "Testing": "foo", "Testing2": "bar"},
            id="custom-response-set",
        ),
        pytest.param(
            {"customResponseHeaders": {"Testing": "foo", "Foo": ""}},
            (),
            (("Foo", "bar"),),
            {"Foo": None, "Testing": "foo"},
            id="custom-response-delete",
        ),
        pytest.param(
            {"customResponseHeaders": {"x-lower-case": "v"}},
            (),
            (),
            {"X-Lower-Case": "v"},
            id="custom-response-canonical-name",
        ),
    ],
)
def test_actual_request_gets_cors_and_custom_response_headers(
    options: dict[str, Any],
    request_headers: tuple[tuple[str, str], ...],
    backend_headers: tuple[tuple[str, str], ...],
    expected: dict[str, str | None],
) -> None:
    resp = _run(options, _request("GET", request_headers), Backend(backend_headers))
    assert resp.status == 200
    for name, value in expected.items():
        values = resp.headers.get_all(name)
        assert values == ([] if value is None else [value]), name
    if "X-Lower-Case" in expected:
        assert (b"X-Lower-Case", b"v") in resp.headers.raw


@pytest.mark.parametrize(
    ("custom", "expected"),
    [
        pytest.param(
            {"X-Custom-Request-Header": "test_request"},
            {"Foo": "bar", "X-Custom-Request-Header": "test_request"},
            id="add",
        ),
        pytest.param(
            {"X-Forwarded-For": "", "X-Custom-Request-Header": "", "Foo": ""},
            {"Foo": None, "X-Forwarded-For": None},
            id="delete",
        ),
        pytest.param({"Foo": "test"}, {"Foo": "test"}, id="override"),
        pytest.param({"Host": "example.com"}, {"Host": "example.com"}, id="host"),
        pytest.param({"Host": ""}, {"Host": "example.org"}, id="empty-host-is-a-no-op"),
    ],
)
def test_custom_request_headers_reach_the_backend(custom: dict[str, str], expected: dict[str, str | None]) -> None:
    backend = Backend()
    _run({"customRequestHeaders": custom}, _request(headers=(("Foo", "bar"), ("X-Forwarded-For", "1.2.3.4"))), backend)
    (seen,) = backend.seen
    for name, value in expected.items():
        assert seen.headers.get_all(name) == ([] if value is None else [value]), name
    if custom.get("Host"):
        assert seen.host == "example.com"


SECURE_HEADERS = (
    "Strict-Transport-Security", "X-Frame-Options", "X-Content-Type-Options", "X-Xss-Protection", "Public-Key-Pins",
    "Content-Security-Policy", "Content-Security-Policy-Report-Only", "Referrer-Policy", "Permissions-Policy",
)  # fmt: skip


@pytest.mark.parametrize(
    ("options", "scheme", "request_headers", "expected"),
    [
        pytest.param({"frameDeny": True}, "http", (), {"X-Frame-Options": "DENY"}, id="frame-deny"),
        pytest.param(
            {"frameDeny": True, "customFrameOptionsValue": "SAMEORIGIN"},
            "http",
            (),
            {"X-Frame-Options": "SAMEORIGIN"},
            id="custom-frame-options-wins",
        ),
        pytest.param({"contentTypeNosniff": True}, "http", (), {"X-Content-Type-Options": "nosniff"}, id="nosniff"),
        pytest.param({"browserXssFilter": True}, "http", (), {"X-Xss-Protection": "1; mode=block"}, id="xss"),
        pytest.param(
            {"browserXssFilter": True, "customBrowserXSSValue": "0"},
            "http",
            (),
            {"X-Xss-Protection": "0"},
            id="custom-xss-wins",
        ),
        pytest.param({"stsSeconds": 31536000}, "http", (), {}, id="sts-not-on-http"),
        pytest.param(
            {"stsSeconds": 31536000}, "https", (), {"Strict-Transport-Security": "max-age=31536000"}, id="sts-on-https"
        ),
        pytest.param(
            {"stsSeconds": 60, "stsIncludeSubdomains": True, "stsPreload": True},
            "https",
            (),
            {"Strict-Transport-Security": "max-age=60; includeSubDomains; preload"},
            id="sts-full",
        ),
        pytest.param(
            {"stsSeconds": 60, "forceSTSHeader": True},
            "http",
            (),
            {"Strict-Transport-Security": "max-age=60"},
            id="sts-forced",
        ),
        pytest.param(
            {"stsSeconds": 60, "sslProxyHeaders": {"X-Forwarded-Proto": "https"}},
            "http",
            (("X-Forwarded-Proto", "https"),),
            {"Strict-Transport-Security": "max-age=60"},
            id="sts-ssl-proxy-header",
        ),
        pytest.param(
            {"stsSeconds": 60, "forceSTSHeader": True, "isDevelopment": True},
            "https",
            (),
            {},
            id="sts-off-in-development",
        ),
        pytest.param({"publicKey": 'pin-sha256="x"; max-age=5'}, "http", (), {}, id="hpkp-not-on-http"),
        pytest.param(
            {"publicKey": 'pin-sha256="x"; max-age=5'},
            "https",
            (),
            {"Public-Key-Pins": 'pin-sha256="x"; max-age=5'},
            id="hpkp-on-https",
        ),
        pytest.param(
            {
                "contentSecurityPolicy": "default-src 'self'",
                "contentSecurityPolicyReportOnly": "script-src 'none'",
                "referrerPolicy": "no-referrer",
                "permissionsPolicy": "camera=()",
            },
            "http",
            (),
            {
                "Content-Security-Policy": "default-src 'self'",
                "Content-Security-Policy-Report-Only": "script-src 'none'",
                "Referrer-Policy": "no-referrer",
                "Permissions-Policy": "camera=()",
            },
            id="policies",
        ),
    ],
)
def test_security_headers(
    options: dict[str, Any], scheme: str, request_headers: tuple[tuple[str, str], ...], expected: dict[str, str]
) -> None:
    backend = Backend((("X-Frame-Options", "ALLOW"),))
    resp = _run(options, _request(headers=request_headers, scheme=scheme), backend)
    assert resp.status == 200
    got = {name: resp.headers.get(name) for name in SECURE_HEADERS if resp.headers.get(name) is not None}
    if "X-Frame-Options" not in expected:
        expected = {**expected, "X-Frame-Options": "ALLOW"}  # the backend's own value is left alone
    assert got == expected


def test_csp_nonce_is_fresh_per_request() -> None:
    factory = factory_for("headers")
    assert factory is not None
    handler = factory(Backend(), _config({"contentSecurityPolicy": "script-src $NONCE"}), name="m", ctx=BuildContext())

    async def two() -> list[str | None]:
        return [(await handler(_request())).headers.get("Content-Security-Policy") for _ in range(2)]

    first, second = asyncio.run(two())
    assert first is not None
    assert second is not None
    assert first.startswith("script-src 'nonce-")
    assert first.endswith("'")
    assert first != second


@pytest.mark.parametrize(
    ("options", "host", "request_headers", "status"),
    [
        pytest.param({"allowedHosts": ["example.org"]}, "example.org", (), 200, id="allowed"),
        pytest.param({"allowedHosts": ["EXAMPLE.org"]}, "example.ORG", (), 200, id="case-insensitive"),
        pytest.param({"allowedHosts": ["example.org"]}, "evil.org", (), 500, id="bad-host"),
        pytest.param({"allowedHosts": ["example.org"]}, "example.org:8080", (), 500, id="port-is-part-of-the-host"),
        pytest.param(
            {"allowedHosts": ["example.org"], "hostsProxyHeaders": ["X-Forwarded-Host"]},
            "evil.org",
            (("X-Forwarded-Host", "example.org"),),
            200,
            id="proxy-header",
        ),
        pytest.param(
            {"allowedHosts": ["example.org"], "isDevelopment": True}, "evil.org", (), 200, id="development-skips-check"
        ),
        pytest.param(
            {"allowedHosts": ["example.com"], "customRequestHeaders": {"Host": "example.com"}},
            "evil.org",
            (),
            200,
            id="custom-host-checked",
        ),
    ],
)
def test_allowed_hosts(
    options: dict[str, Any], host: str, request_headers: tuple[tuple[str, str], ...], status: int
) -> None:
    backend = Backend()
    options = {**options, "customResponseHeaders": {"X-Custom": "v"}}
    resp = _run(options, _request(headers=request_headers, host=host), backend)
    assert resp.status == status
    assert resp.headers.get("X-Custom") == "v", "the outer layer decorates every response"
    if status == 500:
        assert resp.body == b"Bad Host\n"
        assert resp.headers.get("Content-Type") == "text/plain; charset=utf-8"
        assert backend.seen == []


@pytest.mark.parametrize(
    ("options", "method", "status", "location", "body"),
    [
        pytest.param(
            {"sslRedirect": True},
            "GET",
            301,
            "https://example.org/foo?x=1",
            b'<a href="https://example.org/foo?x=1">Moved Permanently</a>.\n\n',
            id="permanent",
        ),
        pytest.param(
            {"sslRedirect": True, "sslTemporaryRedirect": True},
            "POST",
            307,
            "https://example.org/foo?x=1",
            b"",
            id="temporary",
        ),
        pytest.param(
            {"sslRedirect": True, "sslHost": "secure.org"},
            "HEAD",
            301,
            "https://secure.org/foo?x=1",
            b"",
            id="ssl-host",
        ),
    ],
)
def test_deprecated_ssl_redirect(options: dict[str, Any], method: str, status: int, location: str, body: bytes) -> None:
    backend = Backend()
    resp = _run(options, _request(method), backend)
    assert (resp.status, resp.headers.get("Location"), resp.body) == (status, location, body)
    assert backend.seen == []


def test_interim_response_is_not_modified() -> None:
    resp = _run(
        {"frameDeny": True, "customResponseHeaders": {"X-Custom": "v"}}, _request(), Backend((("Upgrade", "ws"),), 101)
    )
    assert resp.status == 101
    assert dict(resp.headers) == {"Upgrade": "ws"}


@pytest.mark.parametrize(
    ("options", "error"),
    [
        pytest.param({}, "headers configuration not valid", id="empty"),
        pytest.param(
            {"accessControlAllowOriginListRegex": ["a(b"]}, "error occurred during origin parsing", id="regex"
        ),
    ],
)
def test_invalid_configuration_is_refused(options: dict[str, Any], error: str) -> None:
    factory = factory_for("headers")
    assert factory is not None
    with pytest.raises(ValueError, match=error):
        factory(Backend(), _config(options), name="m", ctx=BuildContext())


@pytest.mark.parametrize(
    ("name", "canonical"),
    [("x-foo-bar", "X-Foo-Bar"), ("CONTENT-type", "Content-Type"), ("x_under", "X_under"), ("bad name", "bad name")],
)
def test_canonical_header_key(name: str, canonical: str) -> None:
    assert canonical_header_key(name) == canonical
