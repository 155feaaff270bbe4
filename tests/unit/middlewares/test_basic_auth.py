"""``basicAuth``: htpasswd hashes (apr1, MD5-crypt, {SHA}, bcrypt), users files, realm, headerField, removeHeader.

The apr1 / MD5-crypt vectors were produced with ``openssl passwd -apr1`` / ``-1`` (and Traefik's docs for
``test``/``test2``), so the MD5-crypt code is checked against an independent implementation.
"""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import pytest

from hanzo_edge.config.dynamic import decode_dynamic
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response
from hanzo_edge.middlewares import basic_auth
from hanzo_edge.middlewares.base import BuildContext, factory_for
from hanzo_edge.middlewares.basic_auth import check_secret

VECTORS = [
    ("password", "$apr1$H6uskkkW$LyEjAbLzPSldSIGrphZ///"),
    ("test", "$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/"),
    ("test2", "$apr1$d9hr9HBB$4HxwgUir3HP4EsggP/QNo0"),
    ("test", "$apr1$XYZ12345$SgSJJ2uPiZ/vI0.bVhK9v0"),
    ("pässwörd:with colon", "$apr1$ab$zuo3YJmvHBnTVHviXtTYe1"),
    ("", "$apr1$12345678$sHuPAw7VA9xjRbJz7zKV7/"),
    ("hello", "$1$saltsalt$fFhQNRZ9A4AYLdo7vOe8a0"),
    ("secret", "{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ="),
    ("secret", "$2b$04$C35ikL5DQUd4SO3pA9CZX.fR0n3wKkfCsv7LCm4JJIfaHJXgRRlWS"),
    ("secret", "$2a$04$C35ikL5DQUd4SO3pA9CZX.fR0n3wKkfCsv7LCm4JJIfaHJXgRRlWS"),
    ("secret", "$2y$04$C35ikL5DQUd4SO3pA9CZX.fR0n3wKkfCsv7LCm4JJIfaHJXgRRlWS"),
]
BCRYPT = "$2y$04$C35ikL5DQUd4SO3pA9CZX.fR0n3wKkfCsv7LCm4JJIfaHJXgRRlWS"  # "secret"


@pytest.mark.parametrize(("password", "secret"), [pytest.param(p, s, id=s[:6]) for p, s in VECTORS])
def test_check_secret_vectors(password: str, secret: str) -> None:
    assert check_secret(password.encode(), secret.encode())
    assert not check_secret(password.encode() + b"x", secret.encode())


@pytest.mark.parametrize("secret", ["plain", "$apr1$onlytwo", "{SHA}", "$2b$04$garbage"])
def test_malformed_secrets_never_match(secret: str) -> None:
    assert not check_secret(b"plain", secret.encode())


def _config(options: dict[str, Any]) -> Any:
    config, _ = decode_dynamic({"http": {"middlewares": {"m": {"basicAuth": options}}}})
    return config.http.middlewares["m"].config


class Backend:
    def __init__(self) -> None:
        self.seen: list[Request] = []

    async def __call__(self, req: Request) -> Response:
        self.seen.append(req)
        return Response(200, Headers(), b"ok")


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _request(authorization: str | None) -> Request:
    raw = [(b"Host", b"a.test")]
    if authorization is not None:
        raw.append((b"Authorization", authorization.encode("latin-1")))
    return Request("GET", "/", Headers(raw), host="a.test")


def _handler(options: dict[str, Any], backend: Backend) -> Any:
    factory = factory_for("basicAuth")
    assert factory is not None
    return factory(backend, _config(options), name="m@file", ctx=BuildContext())


USERS = ["test:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/", f"bob:{BCRYPT}", "sha:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ="]


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        pytest.param(None, 401, id="no-header"),
        pytest.param(_basic("test", "test"), 200, id="apr1"),
        pytest.param(_basic("bob", "secret"), 200, id="bcrypt"),
        pytest.param(_basic("sha", "secret"), 200, id="sha"),
        pytest.param(_basic("test", "wrong"), 401, id="wrong-password"),
        pytest.param(_basic("nobody", "test"), 401, id="unknown-user"),
        pytest.param(_basic("bob", "nope"), 401, id="bcrypt-wrong"),
        pytest.param("bAsIc " + _basic("test", "test")[6:], 200, id="scheme-case-insensitive"),
        pytest.param("Bearer abc", 401, id="other-scheme"),
        pytest.param("Basic !!!", 401, id="bad-base64"),
        pytest.param("Basic " + base64.b64encode(b"testtest").decode(), 401, id="no-colon"),
        pytest.param("Basic " + base64.b64encode(b"sha:secret").decode().rstrip("="), 401, id="unpadded"),
    ],
)
def test_credentials(authorization: str | None, status: int) -> None:
    backend = Backend()
    resp = asyncio.run(_handler({"users": USERS}, backend)(_request(authorization)))
    assert resp.status == status
    if status == 401:
        assert dict(resp.headers) == {"Content-Type": "text/plain", "Www-Authenticate": 'Basic realm="traefik"'}
        assert resp.body == b"401 Unauthorized\n"
        assert backend.seen == []
    else:
        (seen,) = backend.seen
        assert seen.headers.get("Authorization") == authorization, "kept unless removeHeader"


@pytest.mark.parametrize(
    ("options", "header", "value", "authorization"),
    [
        pytest.param({"headerField": "X-WebAuth-User"}, "X-WebAuth-User", "test", "present", id="header-field"),
        pytest.param({"removeHeader": True}, "X-WebAuth-User", None, None, id="remove-header"),
        pytest.param({"headerField": "X-User", "removeHeader": True}, "X-User", "test", None, id="both"),
    ],
)
def test_upstream_request(options: dict[str, Any], header: str, value: str | None, authorization: str | None) -> None:
    backend = Backend()
    req = _request(_basic("test", "test"))
    req.headers.add("x-webauth-user", "forged")
    req.headers.add("X-User", "forged")
    asyncio.run(_handler({"users": USERS, **options}, backend)(req))
    (seen,) = backend.seen
    if value is not None:
        assert seen.headers.get_all(header) == [value]
        assert (header.encode(), value.encode()) in seen.headers.raw, "the name is sent as configured"
    assert (seen.headers.get("Authorization") is not None) == (authorization == "present")
    assert seen.client_username == "test"


def test_realm() -> None:
    resp = asyncio.run(_handler({"users": USERS, "realm": "my realm"}, Backend())(_request(None)))
    assert resp.headers.get("Www-Authenticate") == 'Basic realm="my realm"'


def test_users_file_merged_with_inline_users_which_win(tmp_path: Path) -> None:
    users_file = tmp_path / "htpasswd"
    users_file.write_text(
        "# comment\n\n  test:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/  \ntest2:$apr1$d9hr9HBB$4HxwgUir3HP4EsggP/QNo0\n"
    )
    handler = _handler({"usersFile": str(users_file), "users": [f"test2:{BCRYPT}"]}, Backend())

    def status(user: str, password: str) -> int:
        return asyncio.run(handler(_request(_basic(user, password)))).status  # type: ignore[no-any-return]

    assert status("test", "test") == 200
    assert status("test2", "secret") == 200, "the inline entry replaces the file's"
    assert status("test2", "test2") == 401


@pytest.mark.parametrize(
    ("options", "error"),
    [
        pytest.param({"users": ["nocolon"]}, "error parsing BasicUser: nocolon", id="no-colon"),
        pytest.param({"users": ["a:b:c"]}, "error parsing BasicUser: a:b:c", id="two-colons"),
        pytest.param({"usersFile": "/nonexistent/htpasswd"}, "open /nonexistent/htpasswd: no such file", id="file"),
    ],
)
def test_invalid_configuration_is_refused(options: dict[str, Any], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        _handler(options, Backend())


def test_successful_check_is_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bytes] = []
    real = basic_auth._check_md5

    def counting(password: bytes, secret: bytes) -> bool:
        calls.append(password)
        return real(password, secret)

    monkeypatch.setattr(basic_auth, "_check_md5", counting)
    handler = _handler({"users": USERS}, Backend())

    async def run() -> list[int]:
        statuses = []
        for password in ("test", "test", "wrong", "wrong"):
            statuses.append((await handler(_request(_basic("test", password)))).status)
        return statuses

    assert asyncio.run(run()) == [200, 200, 401, 401]
    assert calls == [b"test", b"wrong", b"wrong"], "only the success is cached"


def test_concurrent_bcrypt_checks_share_one_computation(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bytes] = []
    real = basic_auth._check_bcrypt

    def counting(password: bytes, secret: bytes) -> bool:
        calls.append(password)
        return real(password, secret)

    monkeypatch.setattr(basic_auth, "_check_bcrypt", counting)
    monkeypatch.setattr(basic_auth, "_checker", lambda secret: counting)
    handler = _handler({"users": [f"bob:{BCRYPT}"]}, Backend())

    async def run() -> list[int]:
        responses = await asyncio.gather(*(handler(_request(_basic("bob", "secret"))) for _ in range(5)))
        return [r.status for r in responses]

    assert asyncio.run(run()) == [200] * 5
    assert calls == [b"secret"]
