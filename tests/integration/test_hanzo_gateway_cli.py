"""The Hanzo chain through the real ``gateway run`` CLI: identity headers, auth, billing, widget keys, host table.

One gateway with auth and billing on (fake JWKS, Commerce and backends on 127.0.0.1), one with AUTH_REQUIRE and
CORS, one with auth off; each test polls, none sleeps.
"""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from edge_harness import eventually, free_port, http_request
from gateway_fixtures import Gateway, JsonBackend, start_gateway
from hanzo_fixtures import ISSUER, Commerce, IamKeys

FORGED = {
    "X-Hanzo-User-Id": "mallory",
    "x-hanzo-org-id": "evil",
    "X-IAM-Roles": "admin",
    "X-User-Id": "mallory",
    "X-User-IsAdmin": "true",
}


def _config(backend: str, **service: Any) -> dict[str, Any]:
    def endpoint(path: str, target: str, **extra: Any) -> dict[str, Any]:
        return {
            "endpoint": path,
            "method": "GET",
            "input_headers": ["*"],
            "output_encoding": "no-op",
            "backend": [{"host": [backend], "url_pattern": target, "encoding": "no-op"}],
            **extra,
        }

    return {
        "version": 3,
        "listen_ip": "127.0.0.1",
        "endpoints": [
            endpoint("/api/echo", "/echo/api"),
            endpoint("/open/{x}", "/echo/open", **{"auth/public": True}),
            endpoint("/open/static", "/echo/static"),  # static beats {x}: not public
        ],
        **service,
    }


def _routes(backend: str) -> str:
    refused = f"http://127.0.0.1:{free_port()}"
    return f"""
redirects:
  app.test: https://hanzo.app
routes:
  web.test:
    - {{prefix: /, backend: "{backend}", rewrite: /echo/root/}}
    - {{prefix: /api, backend: "{backend}", rewrite: /echo/api}}
    - {{prefix: /cookies, backend: "{backend}"}}
  down.test:
    - {{prefix: /, backend: "{refused}"}}
subdomains:
  lux-test: {backend}
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    backend = JsonBackend().start()
    keys = IamKeys()
    commerce = Commerce()
    tmp = tmp_path_factory.mktemp("hanzo")
    routes = tmp / "routes.yaml"
    routes.write_text(_routes(backend.url))
    env = {
        "AUTH_ENABLED": "true",
        "BILLING_ENABLED": "true",
        "AUTH_JWKS_URL": keys.url,
        "AUTH_ISSUER": ISSUER,
        "AUTH_BILLING_URL": commerce.url,
        "COMMERCE_SERVICE_TOKEN": "svc-token",
        "BILLING_TIMEOUT": "300ms",
        "GATEWAY_ROUTES_FILE": str(routes),
        "WIDGET_ALLOWED_ORIGINS": "hanzo.ai,localhost",
        "WIDGET_RATE_LIMIT_PER_IP": "2",
    }
    gateway = start_gateway(tmp, _config(backend.url), env)
    try:
        yield {"gw": gateway, "backend": backend, "keys": keys, "commerce": commerce, "routes": routes, "tmp": tmp}
    finally:
        gateway.stop()
        backend.stop()
        keys.stop()
        commerce.stop()


def _get(gw: Gateway, path: str, headers: dict[str, str] | None = None, host: str = "api.test") -> Any:
    return http_request(gw.port, "GET", path, {"Host": host, **(headers or {})})


def _seen(backend: JsonBackend, path_prefix: str) -> dict[str, list[str]]:
    return backend.last(path_prefix)[2]


def _no_forged(headers: dict[str, list[str]], user: str | None = None) -> None:
    assert "x-iam-roles" not in headers
    assert "x-user-isadmin" not in headers
    assert headers.get("x-hanzo-org-id", ["hanzo"]) == ["hanzo"]
    assert headers.get("x-hanzo-user-id") == ([user] if user else None)
    assert headers.get("x-user-id") == ([user] if user else None)


# -- identity headers ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("credential", ["none", "api-key", "jwt", "public-path"])
def test_forged_identity_never_reaches_a_backend(world: dict[str, Any], credential: str) -> None:
    gw, backend, keys = world["gw"], world["backend"], world["keys"]
    auth = {"api-key": "Bearer sk-test", "jwt": "Bearer " + keys.token()}.get(credential)
    headers = {**FORGED, **({"Authorization": auth} if auth else {})}
    user = "alice" if credential == "jwt" else None
    endpoint_path = "/open/x" if credential == "public-path" else "/api/echo"
    assert _get(gw, endpoint_path, headers).status == 200  # a gateway.json endpoint
    _no_forged(_seen(backend, "/echo/open" if credential == "public-path" else "/echo/api"), user)
    assert _get(gw, "/api/x", headers, host="web.test").status == 200  # a host-table route
    _no_forged(_seen(backend, "/echo/api/x"), user)
    assert _get(gw, "/", headers, host="rpc.lux-test.example").status == 404  # a subdomain route (backend's 404)
    _no_forged(_seen(backend, "/"), user)


def test_valid_jwt_injects_identity(world: dict[str, Any]) -> None:
    gw, backend, keys = world["gw"], world["backend"], world["keys"]
    token = keys.token({"sub": None, "preferred_username": "bob", "owner": "acme", "email": "bob@acme.io"})
    assert _get(gw, "/api/echo", {"Cookie": f"hanzo_token={token}"}).status == 200
    seen = _seen(backend, "/echo/api")
    assert seen["x-hanzo-user-id"] == ["bob"]
    assert seen["x-hanzo-org-id"] == ["acme"]
    assert seen["x-hanzo-user-email"] == ["bob@acme.io"]
    es = keys.token(alg="ES256", kid="ec1")
    assert _get(gw, "/api/echo", {"X-Authorization": f"bearer {es}"}).status == 200


# -- invalid tokens --------------------------------------------------------------------------------------------------
def _none_token() -> str:
    import base64

    def b64(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64({'iss': ISSUER, 'sub': 'x'})}."


@pytest.mark.parametrize("kind", ["expired", "wrong-key", "hs256", "none", "malformed", "issuer", "no-issuer"])
def test_bad_tokens_get_401(world: dict[str, Any], kind: str) -> None:
    keys = world["keys"]
    token = {
        "expired": lambda: keys.token({"exp": 1_000_000, "iat": 999_000}),
        "wrong-key": lambda: keys.token(key=keys.other),
        "hs256": lambda: keys.token(alg="HS256", key="secret-secret-secret-secret-32b!"),
        "none": _none_token,
        "malformed": lambda: "eyJhbGciOiJSUzI1NiJ9.not-base64!.x",
        "issuer": lambda: keys.token({"iss": "https://evil.test"}),
        "no-issuer": lambda: keys.token({"iss": None}),
    }[kind]()
    response = _get(world["gw"], "/api/echo", {"Authorization": f"Bearer {token}"})
    assert response.status == 401
    body = response.json()
    assert (body["error"], body["message"]) == ("unauthorized", "Invalid token")
    assert body["detail"]


def test_jwks_down_cached_keys_keep_working(world: dict[str, Any]) -> None:
    gw, keys = world["gw"], world["keys"]
    assert _get(gw, "/api/echo", {"Authorization": "Bearer " + keys.token()}).status == 200  # keys fetched
    keys.broken = True
    try:
        before = keys.fetches
        # An unknown kid makes the gateway try a refresh (at most once per 5 s), which fails; the keys held and the
        # RSA fallback keep verifying tokens all along.
        attempts = iter(range(1000))

        def refreshed_and_served() -> bool:
            # A new token each time (verified tokens are cached, and a cached one would not look a key up).
            rotated = keys.token({"jti": f"t{next(attempts)}"}, kid="rotated")
            assert _get(gw, "/api/echo", {"Authorization": "Bearer " + rotated}).status == 200
            return keys.fetches > before

        eventually(refreshed_and_served, timeout=15, interval=0.2)
        assert _get(gw, "/api/echo", {"Authorization": "Bearer " + keys.token()}).status == 200
    finally:
        keys.broken = False


# -- billing ---------------------------------------------------------------------------------------------------------
def test_billing_402_and_the_commerce_call(world: dict[str, Any]) -> None:
    gw, keys, commerce = world["gw"], world["keys"], world["commerce"]
    commerce.available["hanzo/broke"] = 0
    response = _get(gw, "/api/echo", {"Authorization": "Bearer " + keys.token({"sub": "broke"})})
    assert response.status == 402
    assert response.json() == {
        "error": "insufficient_balance",
        "message": "Your account has insufficient balance. Please add funds at the platform billing page",
        "user": "hanzo/broke",
    }
    assert commerce.calls[-1] == ("hanzo/broke", "Bearer svc-token")
    calls = len(commerce.calls)
    assert _get(gw, "/api/echo", {"Authorization": "Bearer " + keys.token()}).status == 200
    assert _get(gw, "/api/echo", {"Authorization": "Bearer " + keys.token()}).status == 200
    assert len(commerce.calls) == calls + 2  # no cache: one call per authenticated request
    assert _get(gw, "/api/echo", {"Authorization": "Bearer hk-key"}).status == 200
    assert len(commerce.calls) == calls + 2  # API keys are not billed


def _failures(gw: Gateway, reason: str) -> int:
    text = _get(gw, "/__hanzo/metrics").body.decode()
    for line in text.splitlines():
        if line.startswith(f'hanzo_gateway_billing_failures_total{{reason="{reason}"}}'):
            return int(line.rsplit(" ", 1)[1])
    raise AssertionError(text)


@pytest.mark.parametrize(("mode", "reason"), [("slow", "timeout"), ("garbage", "garbage"), ("error", "status")])
def test_billing_fails_open_with_a_metric(world: dict[str, Any], mode: str, reason: str) -> None:
    gw, keys, commerce = world["gw"], world["keys"], world["commerce"]
    before = _failures(gw, reason)
    commerce.mode = mode
    started = time.monotonic()
    try:
        response = _get(gw, "/api/echo", {"Authorization": "Bearer " + keys.token()}, host="api.test")
    finally:
        commerce.mode = "ok"
    assert response.status == 200
    assert time.monotonic() - started < 2.5  # BILLING_TIMEOUT=300ms bounds a Commerce that takes 3 s
    assert _failures(gw, reason) == before + 1


def test_billing_commerce_down_fails_open(tmp_path: Path, world: dict[str, Any]) -> None:
    keys, backend = world["keys"], world["backend"]
    env = {
        "AUTH_ENABLED": "true",
        "AUTH_JWKS_URL": keys.url,
        "AUTH_ISSUER": ISSUER,
        "AUTH_BILLING_URL": f"http://127.0.0.1:{free_port()}",
        "BILLING_ENABLED": "true",
    }
    gw = start_gateway(tmp_path, _config(backend.url), env)
    try:
        assert _get(gw, "/api/echo", {"Authorization": "Bearer " + keys.token()}).status == 200
        assert _failures(gw, "unreachable") == 1
    finally:
        gw.stop()


# -- widget keys -----------------------------------------------------------------------------------------------------
def test_widget_gate(world: dict[str, Any]) -> None:
    gw = world["gw"]
    widget = {"Authorization": "Bearer hz_widget"}
    no_origin = _get(gw, "/api/echo", widget)
    assert no_origin.status == 403
    assert no_origin.json()["message"].startswith("Widget keys require an Origin header.")
    evil = _get(gw, "/api/echo", {**widget, "Origin": "https://hanzo.ai.evil.com"})
    assert evil.status == 403
    assert evil.json() == {"error": "forbidden", "message": "Widget key not authorized for origin: hanzo.ai.evil.com"}
    ok = {**widget, "Referer": "https://docs.hanzo.ai/page", "X-Forwarded-For": "203.0.113.9"}
    assert [_get(gw, "/api/echo", ok).status for _ in range(3)] == [200, 200, 429]
    limited = _get(gw, "/api/echo", ok)
    assert limited.json()["error"] == "rate_limited"
    other_ip = {**ok, "X-Forwarded-For": "203.0.113.10"}
    assert _get(gw, "/api/echo", other_ip).status == 200
    assert _get(gw, "/api/echo", {"Authorization": "Bearer hk-server"}).status == 200  # not a widget key


# -- host table ------------------------------------------------------------------------------------------------------
def test_host_table_redirect_rewrite_and_proxy_semantics(world: dict[str, Any]) -> None:
    gw, backend = world["gw"], world["backend"]
    redirect = _get(gw, "/some/path?q=1", host="app.test:8080")
    assert redirect.status == 301
    assert redirect.header("Location") == "https://hanzo.app/some/path"
    hop = {"X-Forwarded-For": "198.51.100.7", "Connection": "keep-alive, X-Hop", "X-Hop": "1", "X-End": "kept"}
    proxied = _get(gw, "/api/v1/x?a=1&b=2", hop, host="web.test")
    assert proxied.status == 200
    body = proxied.json()
    assert body["path"] == "/echo/api/v1/x"
    assert body["query"] == {"a": ["1"], "b": ["2"]}
    assert body["headers"]["host"] == [f"127.0.0.1:{backend.port}"]
    assert body["headers"]["x-forwarded-for"] == ["198.51.100.7, 127.0.0.1"]
    assert "x-hop" not in body["headers"]  # named in Connection: hop-by-hop, removed
    assert body["headers"]["x-end"] == ["kept"]  # no input_headers filtering
    assert proxied.header("X-Krakend") is None
    cookies = _get(gw, "/cookies", host="web.test")
    assert [v for n, v in cookies.headers if n.lower() == "set-cookie"] == ["test1=test1", "test2=test2"]
    assert _get(gw, "/__health", host="web.test").json()["status"] == "ok"  # answered by the gateway itself
    refused = _get(gw, "/anything", host="down.test")
    assert (refused.status, refused.body) == (502, b"")
    assert _get(gw, "/api/echo", host="unlisted.test").status == 200  # falls through to gateway.json


def test_host_table_adds_only_x_forwarded_for(world: dict[str, Any]) -> None:
    # Go's ReverseProxy (Director) appends X-Forwarded-For and adds nothing else: no X-Forwarded-Proto/-Host/-Port/
    # -Server (our host name) or X-Real-Ip of Traefik's; what the client sent itself passes unchanged.
    gw = world["gw"]
    plain = _get(gw, "/echo/plain", host="web.test").json()["headers"]
    assert plain["x-forwarded-for"] == ["127.0.0.1"]
    added = {"x-forwarded-proto", "x-forwarded-host", "x-forwarded-port", "x-forwarded-server", "x-real-ip"}
    assert added.isdisjoint(plain), plain
    sent = {"X-Forwarded-Proto": "https", "X-Real-Ip": "192.0.2.1"}
    kept = _get(gw, "/echo/kept", sent, host="web.test").json()["headers"]
    assert (kept["x-forwarded-proto"], kept["x-real-ip"]) == (["https"], ["192.0.2.1"])
    assert {"x-forwarded-host", "x-forwarded-port", "x-forwarded-server"}.isdisjoint(kept), kept


def _post_size(gw: Gateway, host: str, path: str, size: int) -> bytes:
    # A declared body of `size` bytes, sent while the gateway reads; returns the status line.
    with socket.create_connection(("127.0.0.1", gw.port), timeout=20) as conn:
        conn.sendall(f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {size}\r\n\r\n".encode())
        chunk = b"x" * (1 << 20)
        try:
            for _ in range(size // len(chunk)):
                conn.sendall(chunk)
        except OSError:
            pass  # refused early: the answer is already there
        head = b""
        while b"\r\n" not in head:
            data = conn.recv(4096)
            if not data:
                break
            head += data
        return head.split(b"\r\n", 1)[0]


def test_host_table_has_no_body_limit_endpoints_keep_theirs(world: dict[str, Any]) -> None:
    # Go's ReverseProxy has no body limit: an 11 MiB upload through the host table (s3, registry hosts) reaches the
    # backend; gateway.json endpoints keep the 10 MiB limit (their merging reads bodies whole).
    gw = world["gw"]
    size = 11 << 20
    assert _post_size(gw, "web.test", "/upload", size).split(b" ")[1] != b"413"
    assert _post_size(gw, "api.test", "/api/echo", size).split(b" ")[1] == b"413"


def test_host_table_reload_and_malformed_file(world: dict[str, Any]) -> None:
    gw, backend, routes = world["gw"], world["backend"], world["routes"]
    original = routes.read_text()
    try:
        routes.write_text(original + f"  new.test: {backend.url}\n")
        eventually(lambda: _get(gw, "/echo/x", host="a.new.test").status == 200, timeout=10)
        routes.write_text("routes:\n  web.test:\n    - {prefix: /, backend: http://x\n")
        eventually(lambda: "keeping the last good table" in gw.output(), timeout=10)
        assert re.search(r"routes\.yaml:\d+:\d+: invalid YAML", gw.output())
        assert _get(gw, "/echo/x", host="a.new.test").status == 200  # the last good table serves
    finally:
        routes.write_text(original)
        eventually(lambda: _get(gw, "/echo/x", host="a.new.test").status == 404, timeout=10)


def test_websocket_upgrade_is_tunnelled(world: dict[str, Any], tmp_path: Path) -> None:
    from edge_backend import WS_GREETING, Backend

    ws = Backend("ws").start()
    routes = tmp_path / "routes.yaml"
    routes.write_text(f'routes:\n  ws.test:\n    - {{prefix: /, backend: "{ws.url}"}}\n')
    gw = start_gateway(tmp_path, _config(world["backend"].url), {"GATEWAY_ROUTES_FILE": str(routes)})
    try:
        with socket.create_connection(("127.0.0.1", gw.port), timeout=5) as conn:
            conn.sendall(
                b"GET /ws HTTP/1.1\r\nHost: ws.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                b"X-Hanzo-User-Id: mallory\r\nX-IAM-Roles: admin\r\nX-User-Id: mallory\r\n\r\n"
            )
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(4096)
                assert chunk
                head += chunk
            assert head.startswith(b"HTTP/1.1 101")
            rest = head.split(b"\r\n\r\n", 1)[1]
            while WS_GREETING not in rest:
                chunk = conn.recv(4096)
                assert chunk
                rest += chunk
            conn.sendall(b"ping")
            echoed = b""
            while b"ping" not in echoed:
                chunk = conn.recv(4096)
                assert chunk
                echoed += chunk
        upgrade = ws.last("/ws")
        assert upgrade.header("x-hanzo-user-id") is None  # the upgrade request was stripped too
        assert upgrade.header("x-iam-roles") is None
        assert upgrade.header("x-user-id") is None
        # Over HTTP/2 (h2c prior knowledge) too: a gateway.json endpoint and a host-table host.
        from h2_client import H2Client

        forged = [(name.lower(), value) for name, value in FORGED.items()]
        with H2Client(gw.port) as client:
            assert client.get("/api/echo", authority="api.test", headers=forged).status == 200
            _no_forged(_seen(world["backend"], "/echo/api"))
            assert client.get("/ws-plain", authority="ws.test", headers=forged).status == 200
            plain = ws.last("/ws-plain")
            assert [plain.header(name) for name, _ in forged] == [None] * len(forged)
            added = ("x-forwarded-proto", "x-forwarded-host", "x-forwarded-port", "x-forwarded-server", "x-real-ip")
            assert [plain.header(name) for name in added] == [None] * len(added)  # Go's ReverseProxy over h2 too
    finally:
        gw.stop()
        ws.stop()


# -- AUTH_REQUIRE, public paths and endpoints, CORS first ------------------------------------------------------------
def test_require_auth_public_paths_endpoints_and_cors_first(tmp_path: Path, world: dict[str, Any]) -> None:
    keys, backend = world["keys"], world["backend"]
    cors = {"security/cors": {"allow_origins": ["https://app.example"], "allow_methods": ["GET"]}}
    env = {
        "AUTH_ENABLED": "true",
        "AUTH_REQUIRE": "true",
        "BILLING_ENABLED": "false",
        "AUTH_JWKS_URL": keys.url,
        "AUTH_ISSUER": ISSUER,
        "AUTH_PUBLIC_HOSTS": "public.test",
    }
    gw = start_gateway(tmp_path, _config(backend.url, extra_config=cors), env)
    try:
        anonymous = _get(gw, "/api/echo")
        assert anonymous.status == 401
        assert anonymous.json() == {"error": "unauthorized", "message": "Authentication required"}
        assert _get(gw, "/api/echo", host="public.test:80").status == 200
        assert _get(gw, "/open/anything").status == 200  # "auth/public": true
        assert _get(gw, "/open/static").status == 401  # the static endpoint wins and is not public
        assert _get(gw, "/__health").status == 200  # a default public path
        assert _get(gw, "/api/echo", {"Authorization": "Bearer pk-live"}).status == 200
        preflight = http_request(
            gw.port,
            "OPTIONS",
            "/api/echo",
            {"Origin": "https://app.example", "Access-Control-Request-Method": "GET"},
        )
        assert preflight.status == 204
        assert preflight.header("Access-Control-Allow-Origin") == "https://app.example"
    finally:
        gw.stop()


def test_auth_off_still_strips(tmp_path: Path, world: dict[str, Any]) -> None:
    backend = world["backend"]
    gw = start_gateway(tmp_path, _config(backend.url), {"AUTH_ENABLED": "false"})
    try:
        assert _get(gw, "/api/echo", {**FORGED, "Authorization": "Bearer not-a-jwt"}).status == 200
        _no_forged(_seen(backend, "/echo/api"))
    finally:
        gw.stop()


def test_reloaded_gateway_json_brings_its_auth_public_flags(tmp_path: Path, world: dict[str, Any]) -> None:
    keys, backend = world["keys"], world["backend"]
    env = {
        "AUTH_ENABLED": "true",
        "AUTH_REQUIRE": "true",
        "AUTH_JWKS_URL": keys.url,
        "AUTH_ISSUER": ISSUER,
        "HANZO_GATEWAY_WATCH_INTERVAL": "0.05",
    }
    config = _config(backend.url)
    gw = start_gateway(tmp_path, config, env)
    try:
        assert _get(gw, "/api/echo").status == 401
        config["endpoints"][0]["auth/public"] = True
        (tmp_path / "gateway.json").write_text(json.dumps(config))
        eventually(lambda: _get(gw, "/api/echo").status == 200, timeout=10)
        assert _get(gw, "/open/static").status == 401  # the other flags came along unchanged
    finally:
        gw.stop()


def test_bad_hanzo_environment_is_named_by_check_and_run(tmp_path: Path) -> None:
    import subprocess

    from edge_harness import GATEWAY, clean_env

    config = tmp_path / "gateway.json"
    config.write_text(json.dumps(_config(f"http://127.0.0.1:{free_port()}")))
    routes = tmp_path / "routes.yaml"
    routes.write_text("routes:\n  h.test:\n    - {prefix: nope, backend: http://b:80}\n")
    cases = [
        ({"GATEWAY_ROUTES_FILE": str(routes)}, "routes.h.test[0].prefix"),
        ({"WIDGET_RATE_LIMIT_WINDOW": "soon"}, "WIDGET_RATE_LIMIT_WINDOW"),
    ]
    for extra, named in cases:
        env = clean_env(extra)
        for command in ("check", "run"):
            done = subprocess.run(
                [GATEWAY, command, "-c", str(config)], capture_output=True, text=True, timeout=30, env=env
            )
            assert done.returncode == 1, (command, done.stdout, done.stderr)
            assert named in done.stderr, (command, done.stderr)
    warned = subprocess.run(
        [GATEWAY, "check", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
        env=clean_env({"BILLING_PATHS": "/v1/chat"}),
    )
    assert warned.returncode == 0
    assert "WARNING environment: BILLING_PATHS is not supported" in warned.stdout
