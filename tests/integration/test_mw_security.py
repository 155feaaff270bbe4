"""Security middlewares through the real CLI: headers (custom, security, CORS), ipAllowList, basicAuth, digestAuth."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

import pytest
from edge_harness import http_request, lb_service

pytestmark = pytest.mark.integration

ORIGIN = "https://app.example"
APR1_TEST = "test:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/"  # password "test" (Traefik's docs)
BCRYPT_SECRET = "bob:$2y$04$C35ikL5DQUd4SO3pA9CZX.fR0n3wKkfCsv7LCm4JJIfaHJXgRRlWS"  # password "secret"
DIGEST_TEST = "test:traefik:a2688e031edb4be6a3797f3882655c05"  # md5("test:traefik:test")

MIDDLEWARES: dict[str, Any] = {
    "secure": {
        "headers": {
            "customRequestHeaders": {"X-Script-Name": "test", "X-Drop-Me": ""},
            "customResponseHeaders": {"X-Custom-Response": "value", "X-Backend-Secret": ""},
            "frameDeny": True,
            "contentTypeNosniff": True,
            "browserXssFilter": True,
            "stsSeconds": 31536000,
            "stsIncludeSubdomains": True,
            "forceSTSHeader": True,
            "referrerPolicy": "no-referrer",
        }
    },
    "cors": {
        "headers": {
            "accessControlAllowMethods": ["GET", "OPTIONS", "PUT"],
            "accessControlAllowHeaders": ["Content-Type", "X-Token"],
            "accessControlAllowOriginList": [ORIGIN],
            "accessControlExposeHeaders": ["X-Total"],
            "accessControlMaxAge": 100,
            "addVaryHeader": True,
        }
    },
    "rehost": {"headers": {"customRequestHeaders": {"Host": "rewritten.test"}}},
    "hosts": {"headers": {"allowedHosts": ["good.test"]}},
    "allow-local": {"ipAllowList": {"sourceRange": ["127.0.0.1/32"]}},
    "allow-elsewhere": {"ipAllowList": {"sourceRange": ["10.0.0.0/8", "192.168.0.0/16"]}},
    "allow-elsewhere-404": {"ipAllowList": {"sourceRange": ["10.0.0.0/8"], "rejectStatusCode": 404}},
    "basic": {"basicAuth": {"users": [APR1_TEST, BCRYPT_SECRET], "headerField": "X-WebAuth-User"}},
    "basic-strip": {"basicAuth": {"users": [APR1_TEST], "realm": "private", "removeHeader": True}},
    "digest": {"digestAuth": {"users": [DIGEST_TEST], "headerField": "X-WebAuth-User", "removeHeader": True}},
}

ROUTES = {
    "secure.test": ["secure"],
    "cors.test": ["cors"],
    "rehost.test": ["rehost"],
    "hosts.test": ["hosts"],
    "allow.test": ["allow-local"],
    "deny.test": ["allow-elsewhere"],
    "deny404.test": ["allow-elsewhere-404"],
    "basic.test": ["basic"],
    "basicstrip.test": ["basic-strip"],
    "digest.test": ["digest"],
}


@pytest.fixture
def proxied(backend: Any, ingress: Any) -> tuple[Any, Any]:
    app = backend("app")
    routers = {
        host.split(".")[0]: {"rule": f"Host(`{host}`)", "service": "app", "middlewares": middlewares}
        for host, middlewares in ROUTES.items()
    }
    routers["good"] = {"rule": "Host(`good.test`) || Host(`evil.test`)", "service": "app", "middlewares": ["hosts"]}
    proxy = ingress(
        {"http": {"routers": routers, "middlewares": MIDDLEWARES, "services": {"app": lb_service(app.url)}}}
    )
    return proxy, app


def test_headers_custom_and_security_headers(proxied: tuple[Any, Any]) -> None:
    proxy, app = proxied
    resp = http_request(proxy.port, path="/echo", headers={"Host": "secure.test", "X-Drop-Me": "1"})
    assert resp.status == 200
    seen = app.last("/echo")
    assert seen.header("X-Script-Name") == "test"
    assert seen.header("X-Drop-Me") is None
    assert resp.header("X-Custom-Response") == "value"
    assert resp.header("X-Frame-Options") == "DENY"
    assert resp.header("X-Content-Type-Options") == "nosniff"
    assert resp.header("X-XSS-Protection") == "1; mode=block"
    assert resp.header("Strict-Transport-Security") == "max-age=31536000; includeSubDomains"
    assert resp.header("Referrer-Policy") == "no-referrer"


def test_headers_host_override_goes_upstream(proxied: tuple[Any, Any]) -> None:
    proxy, app = proxied
    assert http_request(proxy.port, path="/echo", headers={"Host": "rehost.test"}).status == 200
    assert app.last("/echo").header("Host") == "rewritten.test"


def test_headers_allowed_hosts(proxied: tuple[Any, Any]) -> None:
    proxy, _app = proxied
    assert http_request(proxy.port, path="/echo", headers={"Host": "good.test"}).status == 200
    bad = http_request(proxy.port, path="/echo", headers={"Host": "evil.test"})
    assert (bad.status, bad.body) == (500, b"Bad Host\n")


def test_headers_cors_preflight_and_actual_request(proxied: tuple[Any, Any]) -> None:
    proxy, app = proxied
    preflight = http_request(
        proxy.port,
        "OPTIONS",
        "/echo",
        headers={
            "Host": "cors.test",
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "x-token",
        },
    )
    assert preflight.status == 200
    assert preflight.body == b""
    cors = {name.lower(): value for name, value in preflight.headers if name.lower().startswith("access-control-")}
    assert cors == {
        "access-control-allow-methods": "GET,OPTIONS,PUT",
        "access-control-allow-headers": "Content-Type,X-Token",
        "access-control-allow-origin": ORIGIN,
        "access-control-max-age": "100",
        "access-control-expose-headers": "X-Total",
    }
    assert preflight.header("Content-Length") == "0"
    assert app.requests_to("/echo") == [], "the preflight is answered by the middleware"

    actual = http_request(proxy.port, "GET", "/echo", headers={"Host": "cors.test", "Origin": ORIGIN})
    assert actual.status == 200
    assert actual.header("Access-Control-Allow-Origin") == ORIGIN
    assert actual.header("Access-Control-Expose-Headers") == "X-Total"
    assert actual.header("Vary") == "Origin"
    assert actual.header("Access-Control-Allow-Methods") is None, "preflight-only header"

    stranger = http_request(proxy.port, "GET", "/echo", headers={"Host": "cors.test", "Origin": "https://evil.example"})
    assert stranger.header("Access-Control-Allow-Origin") is None


def test_ip_allow_list(proxied: tuple[Any, Any]) -> None:
    proxy, app = proxied
    assert http_request(proxy.port, path="/echo", headers={"Host": "allow.test"}).status == 200
    denied = http_request(proxy.port, path="/echo?denied", headers={"Host": "deny.test"})
    assert (denied.status, denied.body) == (403, b"Forbidden")
    not_found = http_request(proxy.port, path="/echo?denied", headers={"Host": "deny404.test"})
    assert (not_found.status, not_found.body) == (404, b"Not Found")
    assert [r.target for r in app.requests_to("/echo")] == ["/echo"], "rejected requests never reach the backend"


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_basic_auth(proxied: tuple[Any, Any]) -> None:
    proxy, app = proxied
    anonymous = http_request(proxy.port, path="/echo", headers={"Host": "basic.test"})
    assert anonymous.status == 401
    assert anonymous.header("WWW-Authenticate") == 'Basic realm="traefik"'
    assert anonymous.body == b"401 Unauthorized\n"
    wrong = http_request(proxy.port, path="/echo", headers={"Host": "basic.test", "Authorization": _basic("test", "x")})
    assert wrong.status == 401
    assert app.requests_to("/echo") == []

    for user, password in (("test", "test"), ("bob", "secret"), ("bob", "secret")):
        ok = http_request(
            proxy.port, path="/echo", headers={"Host": "basic.test", "Authorization": _basic(user, password)}
        )
        assert ok.status == 200
        seen = app.last("/echo")
        assert seen.header("X-WebAuth-User") == user
        assert seen.header("Authorization") == _basic(user, password)

    challenge = http_request(proxy.port, path="/echo", headers={"Host": "basicstrip.test"})
    assert challenge.header("WWW-Authenticate") == 'Basic realm="private"'
    stripped = http_request(
        proxy.port, path="/echo", headers={"Host": "basicstrip.test", "Authorization": _basic("test", "test")}
    )
    assert stripped.status == 200
    assert app.last("/echo").header("Authorization") is None


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def test_digest_auth_challenge_and_response(proxied: tuple[Any, Any]) -> None:
    proxy, app = proxied
    first = http_request(proxy.port, path="/echo?x=1", headers={"Host": "digest.test"})
    assert first.status == 401
    challenge = first.header("WWW-Authenticate") or ""
    match = re.fullmatch(
        r'Digest realm="traefik", nonce="([^"]+)", opaque="([^"]+)", algorithm="MD5", qop="auth"', challenge
    )
    assert match is not None, challenge
    nonce, opaque = match.groups()

    def authorization(password: str, nc: str) -> str:
        uri, cnonce = "/echo?x=1", "f2a3b4c5d6e7f809"
        ha1 = _md5(f"test:traefik:{password}")
        response = _md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{_md5(f'GET:{uri}')}")
        return (
            f'Digest username="test", realm="traefik", nonce="{nonce}", uri="{uri}", algorithm=MD5, '
            f'response="{response}", opaque="{opaque}", qop=auth, nc={nc}, cnonce="{cnonce}"'
        )

    wrong = http_request(
        proxy.port,
        path="/echo?x=1",
        headers={"Host": "digest.test", "Authorization": authorization("nope", "00000001")},
    )
    assert wrong.status == 401
    ok = http_request(
        proxy.port,
        path="/echo?x=1",
        headers={"Host": "digest.test", "Authorization": authorization("test", "00000001")},
    )
    assert ok.status == 200
    seen = app.last("/echo")
    assert seen.header("X-WebAuth-User") == "test"
    assert seen.header("Authorization") is None
    again = http_request(
        proxy.port,
        path="/echo?x=1",
        headers={"Host": "digest.test", "Authorization": authorization("test", "00000002")},
    )
    assert again.status == 200
    replay = http_request(
        proxy.port,
        path="/echo?x=1",
        headers={"Host": "digest.test", "Authorization": authorization("test", "00000002")},
    )
    assert replay.status == 401
    assert (replay.header("WWW-Authenticate") or "").endswith(", stale=true")


def test_empty_custom_x_forwarded_for_sends_none_upstream(backend, ingress):
    app = backend("app")
    proxy = ingress(
        {
            "http": {
                "routers": {"r": {"rule": "Host(`app.test`)", "service": "app", "middlewares": ["noxff"]}},
                "middlewares": {"noxff": {"headers": {"customRequestHeaders": {"X-Forwarded-For": ""}}}},
                "services": {"app": {"loadBalancer": {"servers": [{"url": app.url}]}}},
            }
        }
    )
    resp = http_request(proxy.port, path="/echo", headers={"Host": "app.test"})
    assert resp.status == 200
    assert app.last().header("x-forwarded-for") is None
    assert app.last().header("x-real-ip") == "127.0.0.1", "only X-Forwarded-For is omitted"
