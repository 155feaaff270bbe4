"""``digestAuth``: challenge format, RFC 2617 responses computed here, stale nonces under a fake clock, users files."""

from __future__ import annotations

import asyncio
import hashlib
import re
from pathlib import Path
from typing import Any

import pytest

from fakes import FakeClock
from hanzo_edge.config.dynamic import decode_dynamic
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response
from hanzo_edge.middlewares.base import BuildContext, factory_for
from hanzo_edge.middlewares.digest_auth import parse_digest_params

USERS = [
    "test:traefik:a2688e031edb4be6a3797f3882655c05",  # md5("test:traefik:test")
    "test:traefiker:a3d334dff2645b914918de78bec50bf4",  # md5("test:traefiker:test2")
]
CHALLENGE = re.compile(
    r'Digest realm="(?P<realm>[^"]*)", nonce="(?P<nonce>[A-Za-z0-9_-]{32})", opaque="(?P<opaque>[A-Za-z0-9+/]{16})", '
    r'algorithm="MD5", qop="auth"(?P<stale>, stale=true)?'
)


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def _config(options: dict[str, Any]) -> Any:
    config, _ = decode_dynamic({"http": {"middlewares": {"m": {"digestAuth": options}}}})
    return config.http.middlewares["m"].config


class Backend:
    def __init__(self) -> None:
        self.seen: list[Request] = []

    async def __call__(self, req: Request) -> Response:
        self.seen.append(req)
        return Response(200, Headers(), b"ok")


class Client:
    """Builds Digest answers the way a browser does; ``send`` runs one request through the middleware."""

    def __init__(self, handler: Any, user: str = "test", password: str = "test") -> None:
        self.handler = handler
        self.user = user
        self.password = password

    def send(self, target: str = "/dir/index.html", authorization: str | None = None, method: str = "GET") -> Response:
        path, _, query = target.partition("?")
        raw = [(b"Host", b"a.test")]
        if authorization is not None:
            raw.append((b"Authorization", authorization.encode("latin-1")))
        req = Request(method, target, Headers(raw), path=path, query=query, host="a.test")
        return asyncio.run(self.handler(req))  # type: ignore[no-any-return]

    def challenge(self) -> re.Match[str]:
        resp = self.send()
        assert resp.status == 401
        match = CHALLENGE.fullmatch(resp.headers.get("Www-Authenticate") or "")
        assert match is not None, resp.headers.get("Www-Authenticate")
        return match

    def answer(
        self,
        chal: re.Match[str],
        uri: str = "/dir/index.html",
        method: str = "GET",
        nc: str = "00000001",
        **override: str,
    ) -> str:
        realm = chal["realm"]
        fields = {"nonce": chal["nonce"], "opaque": chal["opaque"], "cnonce": "0a4f113b", "qop": "auth"}
        fields.update(override)
        ha1 = _md5(f"{self.user}:{realm}:{self.password}")
        ha2 = _md5(f"{method}:{uri}")
        response = _md5(f"{ha1}:{fields['nonce']}:{nc}:{fields['cnonce']}:{fields['qop']}:{ha2}")
        return (
            f'Digest username="{self.user}", realm="{realm}", nonce="{fields["nonce"]}", uri="{uri}", '
            f'algorithm={fields.get("algorithm", "MD5")}, qop={fields["qop"]}, nc={nc}, cnonce="{fields["cnonce"]}", '
            f'response="{fields.get("response", response)}", opaque="{fields["opaque"]}"'
        )


def _handler(options: dict[str, Any], backend: Backend | None = None, clock: FakeClock | None = None) -> Any:
    factory = factory_for("digestAuth")
    assert factory is not None
    ctx = BuildContext(clock=clock or FakeClock())
    return factory(backend or Backend(), _config(options), name="m@file", ctx=ctx)


def test_challenge_format_and_body() -> None:
    resp = Client(_handler({"users": USERS})).send()
    assert resp.status == 401
    assert resp.body == b"401 Unauthorized\n"
    assert resp.headers.get("Content-Type") == "text/plain"
    match = CHALLENGE.fullmatch(resp.headers.get("Www-Authenticate") or "")
    assert match is not None
    assert match["realm"] == "traefik"
    assert not match["stale"]


def test_full_exchange_passes_and_sets_header_field() -> None:
    backend = Backend()
    client = Client(_handler({"users": USERS, "headerField": "X-WebAuth-User", "removeHeader": True}, backend))
    resp = client.send(authorization=client.answer(client.challenge()))
    assert resp.status == 200
    (seen,) = backend.seen
    assert seen.headers.get("X-WebAuth-User") == "test"
    assert seen.headers.get("Authorization") is None
    assert seen.client_username == "test"


@pytest.mark.parametrize(
    ("change", "stale"),
    [
        pytest.param({"password": "wrong"}, False, id="wrong-password"),
        pytest.param({"opaque": "AAAAAAAAAAAAAAAA"}, False, id="opaque"),
        pytest.param({"qop": "auth-int"}, False, id="qop"),
        pytest.param({"algorithm": "MD5-sess"}, False, id="algorithm"),
        pytest.param({"uri": "/other"}, False, id="uri-elsewhere"),
        pytest.param({"nc": "xyz"}, False, id="bad-nc"),
        pytest.param({"nonce": "A" * 32}, True, id="forged-nonce"),
        pytest.param({"nonce": "short"}, True, id="malformed-nonce"),
        pytest.param({"response": "0" * 32}, False, id="bad-response"),
    ],
)
def test_rejections(change: dict[str, str], stale: bool) -> None:
    client = Client(_handler({"users": USERS}))
    if "password" in change:
        client.password = change.pop("password")
    chal = client.challenge()
    uri = change.pop("uri", "/dir/index.html")
    nc = change.pop("nc", "00000001")
    resp = client.send(authorization=client.answer(chal, uri=uri, nc=nc, **change))
    assert resp.status == 401
    match = CHALLENGE.fullmatch(resp.headers.get("Www-Authenticate") or "")
    assert match is not None
    assert bool(match["stale"]) == stale


@pytest.mark.parametrize(
    ("uri", "target", "status"),
    [
        pytest.param("/dir/index.html?x=1", "/dir/index.html?x=1", 200, id="exact-with-query"),
        pytest.param("/dir/", "/dir/index.html", 200, id="path-prefix-accepted"),
        pytest.param("/dir/index.html/more", "/dir/index.html", 401, id="longer"),
    ],
)
def test_uri_must_match_the_request(uri: str, target: str, status: int) -> None:
    client = Client(_handler({"users": USERS}))
    assert client.send(target, client.answer(client.challenge(), uri=uri)).status == status


def test_missing_algorithm_means_md5() -> None:
    client = Client(_handler({"users": USERS}))
    authorization = client.answer(client.challenge()).replace("algorithm=MD5, ", "")
    assert client.send(authorization=authorization).status == 200


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param("Basic dGVzdDp0ZXN0", id="basic"),
        pytest.param("digest username=test", id="scheme-is-case-sensitive"),
        pytest.param("Digest", id="no-params"),
    ],
)
def test_not_digest_credentials(authorization: str) -> None:
    resp = Client(_handler({"users": USERS})).send(authorization=authorization)
    assert resp.status == 401


def test_nonce_count_must_grow_and_replay_is_stale() -> None:
    client = Client(_handler({"users": USERS}))
    chal = client.challenge()
    assert client.send(authorization=client.answer(chal, nc="00000001")).status == 200
    replay = client.send(authorization=client.answer(chal, nc="00000001"))
    assert replay.status == 401
    assert (replay.headers.get("Www-Authenticate") or "").endswith(", stale=true")
    assert client.send(authorization=client.answer(chal, nc="00000002")).status == 200
    assert client.send(authorization=client.answer(chal, nc="0000000a")).status == 200


def test_expired_nonce_is_stale() -> None:
    clock = FakeClock()
    handler = _handler({"users": USERS}, clock=clock)
    client = Client(handler)
    chal = client.challenge()
    clock.now += handler.nonce_ttl - 1
    assert client.send(authorization=client.answer(chal)).status == 200
    clock.now += 2
    resp = client.send(authorization=client.answer(chal, nc="00000002"))
    assert resp.status == 401
    fresh = CHALLENGE.fullmatch(resp.headers.get("Www-Authenticate") or "")
    assert fresh is not None
    assert fresh["stale"]
    assert fresh["nonce"] != chal["nonce"]
    assert client.send(authorization=client.answer(fresh)).status == 200


def test_instances_of_one_configuration_accept_each_others_nonces() -> None:
    """Worker processes build their own instance: a nonce from one must work on another."""
    first = Client(_handler({"users": USERS}))
    second = Client(_handler({"users": USERS}))
    other = Client(_handler({"users": [*USERS, "x:traefik:00000000000000000000000000000000"]}))
    chal = first.challenge()
    assert second.send(authorization=second.answer(chal)).status == 200
    assert other.send(authorization=other.answer(chal)).status == 401


def test_realm_selects_the_users(tmp_path: Path) -> None:
    users_file = tmp_path / "htdigest"
    users_file.write_text("# htdigest\n" + "\n".join(USERS) + "\n\n")
    client = Client(_handler({"usersFile": str(users_file), "realm": "traefiker"}), password="test2")
    chal = client.challenge()
    assert chal["realm"] == "traefiker"
    assert client.send(authorization=client.answer(chal)).status == 200
    client.password = "test"
    assert client.send(authorization=client.answer(client.challenge())).status == 401


def test_inline_users_win_over_the_file(tmp_path: Path) -> None:
    users_file = tmp_path / "htdigest"
    users_file.write_text("test2:traefik:518845800f9e2bfb1f1f740ec24f074e\n")
    handler = _handler({"usersFile": str(users_file), "users": ["test2:traefik:8de60a1c52da68ccf41f0c0ffb7c51a0"]})
    client = Client(handler, user="test2", password="overridden")
    assert client.send(authorization=client.answer(client.challenge())).status == 200
    client.password = "test2"
    assert client.send(authorization=client.answer(client.challenge())).status == 401


@pytest.mark.parametrize(
    ("options", "error"),
    [
        pytest.param({"users": ["test"]}, "error parsing DigestUser: test", id="one-field"),
        pytest.param({"users": ["a:b"]}, "error parsing DigestUser: a:b", id="two-fields"),
        pytest.param({"usersFile": "/nonexistent/htdigest"}, "open /nonexistent/htdigest: no such file", id="file"),
    ],
)
def test_invalid_configuration_is_refused(options: dict[str, Any], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        _handler(options)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param(
            'Digest username="a", uri="/x?a=1,b=2", qop=auth, nc=00000001',
            {"username": "a", "uri": "/x?a=1,b=2", "qop": "auth", "nc": "00000001"},
            id="quoted-comma",
        ),
        pytest.param('Digest realm="say \\"hi\\"", flag', {"realm": 'say "hi"', "flag": ""}, id="escapes-and-bare"),
        pytest.param("Digest empty=", {"empty=": ""}, id="empty-value"),
        pytest.param("Basic abc", None, id="basic"),
        pytest.param("Digest", None, id="no-space"),
    ],
)
def test_parse_digest_params(header: str, expected: dict[str, str] | None) -> None:
    assert parse_digest_params(header) == expected
