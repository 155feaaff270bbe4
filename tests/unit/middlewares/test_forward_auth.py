"""``forwardAuth``: the auth request it sends, how the auth answer is applied, errors and config checks."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hanzo_edge.config.middlewares import ClientTLS
from hanzo_edge.config.middlewares import ForwardAuth as ForwardAuthConfig
from hanzo_edge.http.body import BodyError, StreamBody, body_bytes
from hanzo_edge.http.errors import ClientClosed, ConnectError
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response
from hanzo_edge.http.proxy import build_request_head
from hanzo_edge.middlewares.base import BuildContext
from hanzo_edge.middlewares.forward_auth import ForwardAuth, canonical_key

ADDRESS = "http://auth.test:9000/verify?app=1"


class AuthServer:
    """Stands in for the ServerTarget: records the auth request and answers with a canned response."""

    def __init__(self, answer: Response | Exception) -> None:
        self.answer = answer
        self.requests: list[Request] = []
        self.heads: list[bytes] = []
        self.bodies: list[bytes] = []

    async def __call__(self, req: Request) -> Response:
        self.requests.append(req)
        self.heads.append(build_request_head(req, b"auth.test:9000", False, "")[0])
        self.bodies.append(await body_bytes(req.body))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


class Backend:
    def __init__(self, response: Response | None = None) -> None:
        self.requests: list[Request] = []
        self.bodies: list[bytes] = []
        self.response = response

    async def __call__(self, req: Request) -> Response:
        self.requests.append(req)
        self.bodies.append(await body_bytes(req.body))
        return self.response or Response(200, Headers(), b"backend")


def _answer(status: int, headers: list[tuple[str, str]] = (), body: bytes = b"") -> Response:  # type: ignore[assignment]
    return Response(status, Headers([(n.encode(), v.encode()) for n, v in headers]), body)


def _build(auth: AuthServer, backend: Backend | None = None, **options: Any) -> ForwardAuth:
    options.setdefault("address", ADDRESS)
    middleware = ForwardAuth(backend or Backend(), ForwardAuthConfig(**options), name="auth@file", ctx=BuildContext())
    middleware.target = auth  # type: ignore[assignment]
    return middleware


def _request(
    headers: list[tuple[str, str]] = (),  # type: ignore[assignment]
    method: str = "GET",
    path: str = "/app/page",
    query: str = "x=1",
    body: bytes | StreamBody = b"",
    tls: bool = False,
) -> Request:
    raw = [(b"Host", b"app.test:8080")] + [(n.encode(), v.encode()) for n, v in headers]
    return Request(
        method,
        f"{path}?{query}",
        Headers(raw),
        path=path,
        query=query,
        host="app.test",
        client_ip="10.1.2.3",
        scheme="https" if tls else "http",
        body=body,
    )


def _run(middleware: ForwardAuth, req: Request) -> Response:
    async def go() -> Response:
        response = await middleware(req)
        response.body = await body_bytes(response.body)
        return response

    return asyncio.run(go())


def _h(req: Request) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in req.headers:
        out.setdefault(name.lower(), []).append(value)
    return out


def _wire(head: bytes) -> tuple[str, dict[str, list[str]]]:
    """The request line and the headers of a request head as it goes on the wire."""
    line, *fields = head.decode("latin-1").split("\r\n")
    out: dict[str, list[str]] = {}
    for field in fields:
        if field:
            name, _, value = field.partition(":")
            out.setdefault(name.lower(), []).append(value.strip())
    return line, out


# --------------------------------------------------------------------------------------------- the auth request


@pytest.mark.parametrize(
    ("options", "req_kwargs", "expected", "absent"),
    [
        pytest.param(
            {},
            {"headers": [("Authorization", "Bearer t"), ("X-Forwarded-Port", "8080"), ("Connection", "close")]},
            {
                "authorization": ["Bearer t"],
                "x-forwarded-method": ["GET"],
                "x-forwarded-proto": ["http"],
                "x-forwarded-host": ["app.test:8080"],
                "x-forwarded-uri": ["/app/page?x=1"],
                "x-forwarded-port": ["8080"],
                "x-forwarded-for": ["10.1.2.3"],
            },
            ["connection", "content-length"],
            id="defaults",
        ),
        pytest.param(
            {},
            {"method": "DELETE", "tls": True, "headers": [("X-Forwarded-For", "1.1.1.1"), ("X-Forwarded-Uri", "/x")]},
            {
                "x-forwarded-method": ["DELETE"],
                "x-forwarded-proto": ["https"],
                "x-forwarded-for": ["10.1.2.3"],
                "x-forwarded-uri": ["/app/page?x=1"],
            },
            [],
            id="untrusted-forwarded-headers-replaced",
        ),
        pytest.param(
            {"trust_forward_header": True},
            {
                "headers": [
                    ("X-Forwarded-For", "1.1.1.1"),
                    ("X-Forwarded-Uri", "/orig"),
                    ("X-Forwarded-Method", "PUT"),
                    ("X-Forwarded-Host", "front.test"),
                    ("X-Forwarded-Proto", "https"),
                ]
            },
            {
                "x-forwarded-for": ["1.1.1.1, 10.1.2.3"],
                "x-forwarded-uri": ["/orig"],
                "x-forwarded-method": ["PUT"],
                "x-forwarded-host": ["front.test"],
                "x-forwarded-proto": ["https"],
            },
            [],
            id="trusted-forwarded-headers",
        ),
        pytest.param(
            {"auth_request_headers": ["Authorization", "Cookie"]},
            {"headers": [("Authorization", "Basic x"), ("Cookie", "a=1"), ("X-Secret", "no"), ("Accept", "*/*")]},
            {"authorization": ["Basic x"], "cookie": ["a=1"], "x-forwarded-method": ["GET"]},
            ["x-secret", "accept"],
            id="only-listed-request-headers",
        ),
        pytest.param(
            {"address": "http://user:p%40ss@auth.test/"},
            {},
            {"authorization": ["Basic dXNlcjpwQHNz"]},
            [],
            id="userinfo-basic-credentials",
        ),
    ],
)
def test_auth_request_headers(
    options: dict[str, Any], req_kwargs: dict[str, Any], expected: dict[str, list[str]], absent: list[str]
) -> None:
    auth = AuthServer(_answer(200))
    _run(_build(auth, **options), _request(**req_kwargs))
    (head,) = auth.heads
    line, headers = _wire(head)
    assert line == "GET /verify?app=1 HTTP/1.1" if "address" not in options else line.startswith("GET / ")
    assert headers["host"] == ["auth.test:9000"]
    for name, values in expected.items():
        assert headers.get(name) == values, name
    for name in absent:
        assert name not in headers, name


def test_auth_request_targets_the_address_with_get_unless_preserved() -> None:
    auth = AuthServer(_answer(200))
    _run(_build(auth), _request(method="POST", body=b"secret"))
    assert (auth.requests[0].method, auth.requests[0].path, auth.requests[0].query) == ("GET", "/verify", "app=1")
    assert auth.bodies == [b""], "the body is not forwarded by default"
    _run(_build(auth, preserve_request_method=True), _request(method="POST", body=b"secret"))
    assert auth.requests[1].method == "POST"


@pytest.mark.parametrize(
    ("max_body", "body", "status", "auth_body", "backend_body"),
    [
        pytest.param(-1, lambda: b"hello", 200, b"hello", b"hello", id="unlimited-bytes"),
        pytest.param(-1, lambda: _stream([b"he", b"llo"]), 200, b"hello", b"hello", id="unlimited-stream"),
        pytest.param(5, lambda: _stream([b"he", b"llo"]), 200, b"hello", b"hello", id="at-limit"),
        pytest.param(4, lambda: _stream([b"he", b"llo"]), 401, None, None, id="over-limit"),
        pytest.param(4, lambda: _stream([], 5, eof=False), 401, None, None, id="declared-over-limit"),
        pytest.param(-1, lambda: _stream([b"x"], None, error=True), 500, None, None, id="client-body-failed"),
    ],
)
def test_forward_body(max_body: int, body: Any, status: int, auth_body: bytes | None, backend_body: Any) -> None:
    auth = AuthServer(_answer(200))
    backend = Backend()
    response = _run(_build(auth, backend, forward_body=True, max_body_size=max_body), _request(body=body()))
    assert response.status == status
    assert auth.bodies == ([] if auth_body is None else [auth_body])
    assert backend.bodies == ([] if backend_body is None else [backend_body])
    if status != 200:
        assert response.body == b""


def _stream(chunks: list[bytes], length: int | None = None, eof: bool = True, error: bool = False) -> StreamBody:
    body = StreamBody(None, length)
    for chunk in chunks:
        body.feed(chunk)
    if error:
        body.feed_error(ConnectionResetError("client went away"))
    elif eof:
        body.feed_eof()
    return body


# ------------------------------------------------------------------------------------------------ the answer


@pytest.mark.parametrize(
    ("options", "client_headers", "auth_headers", "backend_sees", "backend_lacks"),
    [
        pytest.param(
            {"auth_response_headers": ["X-Auth-User", "X-Auth-Roles"]},
            [("X-Auth-User", "forged"), ("x_auth_user", "forged2"), ("X.Auth.Roles", "admin"), ("Keep", "1")],
            [("X-Auth-User", "alice"), ("X-Other", "nope")],
            {"x-auth-user": ["alice"], "keep": ["1"]},
            ["x_auth_user", "x.auth.roles", "x-auth-roles", "x-other"],
            id="listed-headers-replace-forged-ones",
        ),
        pytest.param(
            {"auth_response_headers": ["x-auth-groups"]},
            [],
            [("X-Auth-Groups", "a"), ("X-Auth-Groups", "b")],
            {"x-auth-groups": ["a", "b"]},
            [],
            id="all-values-copied",
        ),
        pytest.param(
            {"auth_response_headers_regex": "^X-Id-"},
            [("X-Id-Name", "forged"), ("X_Id_Email", "forged"), ("X-Idle", "keep")],
            [("x-id-name", "bob"), ("X-Id-Tenant", "t1"), ("X-Other", "no")],
            {"x-id-name": ["bob"], "x-id-tenant": ["t1"], "x-idle": ["keep"]},
            ["x_id_email", "x-other"],
            id="regex",
        ),
    ],
)
def test_2xx_copies_identity_headers(
    options: dict[str, Any],
    client_headers: list[tuple[str, str]],
    auth_headers: list[tuple[str, str]],
    backend_sees: dict[str, list[str]],
    backend_lacks: list[str],
) -> None:
    backend = Backend()
    response = _run(_build(AuthServer(_answer(204, auth_headers)), backend, **options), _request(client_headers))
    assert (response.status, response.body) == (200, b"backend")
    headers = _h(backend.requests[0])
    for name, values in backend_sees.items():
        assert headers.get(name) == values, name
    for name in backend_lacks:
        assert name not in headers, name


@pytest.mark.parametrize(
    ("options", "location", "expected"),
    [
        pytest.param({}, "/login?next=%2F", "http://auth.test:9000/login?next=%2F", id="absolute-path"),
        pytest.param({}, "login", "http://auth.test:9000/login", id="relative"),
        pytest.param({}, "https://sso.test/x", "https://sso.test/x", id="absolute-url"),
        pytest.param({"preserve_location_header": True}, "/login", "/login", id="preserved"),
    ],
)
def test_non_2xx_is_returned_as_it_came(options: dict[str, Any], location: str, expected: str) -> None:
    backend = Backend()
    answer = _answer(
        302, [("Location", location), ("Set-Cookie", "s=1"), ("Content-Length", "6"), ("X-Why", "login")], b"go log"
    )
    response = _run(_build(AuthServer(answer), backend, **options), _request())
    assert response.status == 302
    assert response.body == b"go log"
    assert response.headers.get("Location") == expected
    assert response.headers.get("Set-Cookie") == "s=1"
    assert response.headers.get("X-Why") == "login"
    assert backend.requests == []


def test_401_with_challenge() -> None:
    answer = _answer(401, [("WWW-Authenticate", 'Bearer realm="api"')], b"denied")
    response = _run(_build(AuthServer(answer)), _request())
    assert (response.status, response.body) == (401, b"denied")
    assert response.headers.get("WWW-Authenticate") == 'Bearer realm="api"'


@pytest.mark.parametrize(
    ("answer", "status"),
    [
        pytest.param(ConnectError("dial tcp: connection refused"), 500, id="unreachable"),
        pytest.param(ClientClosed("client disconnected"), 499, id="canceled"),
        pytest.param(_answer(200, body=b""), 200, id="ok"),
    ],
)
def test_auth_server_errors(answer: Response | Exception, status: int) -> None:
    response = _run(_build(AuthServer(answer)), _request())
    assert response.status == status
    if status != 200:
        assert response.body == b""


def test_auth_body_failure_is_500_and_too_large_is_401() -> None:
    failing = StreamBody(None, None)
    failing.feed(b"x")
    failing.feed_error(BodyError("reset"))
    assert _run(_build(AuthServer(Response(403, Headers(), failing))), _request()).status == 500
    big = _answer(403, body=b"x" * 11)
    assert _run(_build(AuthServer(big), max_response_body_size=10), _request()).status == 401
    assert _run(_build(AuthServer(_answer(403, body=b"x" * 10)), max_response_body_size=10), _request()).status == 403


def test_auth_cookies_replace_backend_cookies() -> None:
    backend = Backend(
        Response(200, Headers([(b"Set-Cookie", b"session=backend"), (b"Set-Cookie", b"theme=dark")]), b"ok")
    )
    auth = AuthServer(_answer(200, [("Set-Cookie", "session=auth; Path=/; HttpOnly"), ("Set-Cookie", "other=1")]))
    response = _run(_build(auth, backend, add_auth_cookies_to_response=["session"]), _request())
    assert response.headers.get_all("Set-Cookie") == ["theme=dark", "session=auth; Path=/; HttpOnly"]


def test_header_field_is_recorded_for_the_access_log() -> None:
    req = _request()
    _run(_build(AuthServer(_answer(200, [("X-User", "carol")])), header_field="X-User"), req)
    assert req.client_username == "carol"


# --------------------------------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({"address": ""}, "address is required", id="missing"),
        pytest.param({"address": "ftp://auth"}, "http:// or https:// URL", id="scheme"),
        pytest.param({"address": "http://"}, "http:// or https:// URL", id="no-host"),
        pytest.param({"address": "http://a:99999/"}, "invalid forwardAuth address", id="port"),
        pytest.param({"auth_response_headers_regex": "("}, "error compiling regular expression", id="regex"),
        pytest.param(
            {"address": "https://auth.test", "tls": ClientTLS(cert="/nope.pem")},
            "both TLS cert and key must be defined",
            id="cert-without-key",
        ),
        pytest.param(
            {"address": "https://auth.test", "tls": ClientTLS(ca="not a pem")},
            "failed to parse CA",
            id="bad-ca",
        ),
    ],
)
def test_config_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _build(AuthServer(_answer(200)), **options)


@pytest.mark.parametrize(
    ("name", "canonical"),
    [("x-auth-user", "X-Auth-User"), ("X-AUTH", "X-Auth"), ("x_y", "X_y"), ("bad name", "bad name")],
)
def test_canonical_key(name: str, canonical: str) -> None:
    assert canonical_key(name) == canonical


def test_insecure_tls_pools_are_shared_by_address() -> None:
    one = ForwardAuth(
        Backend(),
        ForwardAuthConfig(address="https://auth.test/a", tls=ClientTLS(insecure_skip_verify=True)),
        name="a",
        ctx=BuildContext(),
    )
    two = ForwardAuth(
        Backend(),
        ForwardAuthConfig(address="https://auth.test/b", tls=ClientTLS(insecure_skip_verify=True)),
        name="b",
        ctx=BuildContext(),
    )
    assert one.target.pool is two.target.pool


def test_https_auth_server_with_a_private_ca_and_a_client_certificate(tmp_path: Any) -> None:
    import ssl

    import trustme

    ca = trustme.CA()
    server_cert = ca.issue_cert("127.0.0.1")
    client_cert = ca.issue_cert("client.test")
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_cert.configure_cert(server_ctx)
    ca.configure_trust(server_ctx)
    server_ctx.verify_mode = ssl.CERT_REQUIRED  # the auth server insists on our client certificate
    ca_path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    seen: list[Any] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        seen.append(writer.get_extra_info("peercert"))
        writer.write(b"HTTP/1.1 200 OK\r\nX-Auth-User: tls-user\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    async def go() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_ctx)
        port = server.sockets[0].getsockname()[1]
        backend = Backend()
        tls = ClientTLS(
            ca=str(ca_path),  # a file
            cert=client_cert.cert_chain_pems[0].bytes().decode(),  # inline PEM
            key=client_cert.private_key_pem.bytes().decode(),
        )
        config = ForwardAuthConfig(
            address=f"https://127.0.0.1:{port}/check", tls=tls, auth_response_headers=["X-Auth-User"]
        )
        middleware = ForwardAuth(backend, config, name="tls@file", ctx=BuildContext())
        try:
            response = await middleware(_request())
            assert response.status == 200
            assert _h(backend.requests[0])["x-auth-user"] == ["tls-user"]
            assert seen[0] is not None, "the client certificate was presented"
        finally:
            middleware.target.pool.close()
            server.close()
            await server.wait_closed()

    asyncio.run(go())
