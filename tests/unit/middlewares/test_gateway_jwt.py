"""``krakendJwtValidator`` (KrakenD ``auth/validator``): tokens minted here with ``cryptography`` keys, keys served by
a real JWKS HTTP server, wall and monotonic clocks injected."""

from __future__ import annotations

import asyncio
import base64
import hmac
import logging
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import orjson
import pytest
import trustme
from cryptography.hazmat.primitives import serialization

from fakes import FakeClock
from gateway_jwt_tokens import JwksServer, SigningKey, ec_key, hmac_key, jwks, mint, rsa_key
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response
from hanzo_edge.middlewares._jwks import JwksError, SourceSettings, spki_sha256
from hanzo_edge.middlewares.base import BuildContext, kind_of
from hanzo_edge.middlewares.krakend_jwt import KrakendJwtConfig, KrakendJwtValidator

NOW = 1_800_000_000.0
ISSUER = "https://issuer.test"


class Backend:
    """A fake ``next`` recording the headers each request reached it with."""

    def __init__(self) -> None:
        self.seen: list[Headers] = []

    async def __call__(self, req: Request) -> Response:
        self.seen.append(req.headers)
        return Response(200, Headers(), b"ok")


class Wall:
    """An injectable wall clock (epoch seconds)."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def server() -> Iterator[JwksServer]:
    srv = JwksServer().start()
    yield srv
    srv.stop()


def _claims(**extra: Any) -> dict[str, Any]:
    return {"sub": "user-1", "iss": ISSUER, "exp": int(NOW) + 600, "iat": int(NOW) - 10, **extra}


def _req(token: str | None = None, **headers: str) -> Request:
    raw = [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]
    if token is not None:
        raw.append((b"Authorization", f"Bearer {token}".encode()))
    return Request("GET", "/private", Headers(raw), host="gw.test")


class Harness:
    def __init__(self, config: KrakendJwtConfig, **kwargs: Any) -> None:
        self.backend = Backend()
        self.clock = FakeClock()
        self.wall = Wall()
        self.validator = KrakendJwtValidator(
            self.backend, config, name="/private", ctx=BuildContext(clock=self.clock), wall_clock=self.wall, **kwargs
        )

    def statuses(self, *requests: Request) -> list[int]:
        async def run() -> list[int]:
            return [(await self.validator(req)).status for req in requests]

        return asyncio.run(run())


def _config(server: JwksServer, **options: Any) -> KrakendJwtConfig:
    return KrakendJwtConfig(jwk_url=server.url, disable_jwk_security=True, issuer=ISSUER, cache=True, **options)


def test_the_kind_is_registered_with_its_model() -> None:
    assert kind_of(KrakendJwtConfig()).name == "krakendJwtValidator"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("alg", "make_key"),
    [
        ("RS256", lambda: rsa_key("r1")),
        ("RS512", lambda: rsa_key("r2")),
        ("PS256", lambda: rsa_key("p1")),
        ("ES256", lambda: ec_key("e1")),
    ],
)
def test_valid_token_passes(server: JwksServer, alg: str, make_key: Any) -> None:
    key: SigningKey = make_key()
    server.body = jwks(key)
    harness = Harness(_config(server, alg=alg))

    assert harness.statuses(_req(mint(key, _claims(), alg))) == [200]


def test_hs256_with_a_local_jwk_file(tmp_path: Path) -> None:
    key = hmac_key("sim1")
    path = tmp_path / "jwks.json"
    path.write_bytes(jwks(key))
    harness = Harness(KrakendJwtConfig(alg="HS256", jwk_local_path=str(path)))

    forged = hmac_key("sim1", secret=b"another-secret-of-at-least-32-bytes!!")
    assert harness.statuses(_req(mint(key, _claims(), "HS256")), _req(mint(forged, _claims(), "HS256"))) == [200, 401]


@pytest.mark.parametrize(
    ("claims", "status"),
    [
        pytest.param(_claims(exp=int(NOW) - 5), 401, id="expired"),
        pytest.param(_claims(exp=int(NOW)), 200, id="expired-within-leeway"),
        pytest.param(_claims(nbf=int(NOW) + 60), 401, id="not-yet-valid"),
        pytest.param(_claims(iat=int(NOW) + 60), 401, id="issued-in-the-future"),
        pytest.param(_claims(iss="https://evil.test"), 401, id="wrong-issuer"),
        pytest.param({k: v for k, v in _claims().items() if k != "iss"}, 401, id="no-issuer"),
        pytest.param(_claims(exp="tomorrow"), 401, id="exp-not-a-number"),
    ],
)
def test_registered_claims(server: JwksServer, claims: dict[str, Any], status: int) -> None:
    key = rsa_key("k1")
    server.body = jwks(key)
    harness = Harness(_config(server))

    assert harness.statuses(_req(mint(key, claims))) == [status]


@pytest.mark.parametrize(
    ("aud", "status"),
    [(["api", "admin"], 200), (["admin", "api", "extra"], 200), ("api", 401), (["api"], 401), (None, 401)],
)
def test_every_configured_audience_must_be_present(server: JwksServer, aud: Any, status: int) -> None:
    key = rsa_key("k1")
    server.body = jwks(key)
    harness = Harness(_config(server, audience=("api", "admin")))
    claims = _claims() if aud is None else _claims(aud=aud)

    assert harness.statuses(_req(mint(key, claims))) == [status]


def test_roles_any_of_else_403(server: JwksServer) -> None:
    key = rsa_key("k1")
    server.body = jwks(key)
    harness = Harness(_config(server, roles=("admin", "ops")))

    got = harness.statuses(
        _req(mint(key, _claims(roles=["user", "ops"]))),
        _req(mint(key, _claims(roles=["user"]))),
        _req(mint(key, _claims(roles="user admin"))),  # a space-separated string counts too
        _req(mint(key, _claims())),
    )
    assert got == [200, 403, 200, 403]


def test_nested_roles_key(server: JwksServer) -> None:
    key = rsa_key("k1")
    server.body = jwks(key)
    harness = Harness(_config(server, roles=("admin",), roles_key="realm_access.roles", roles_key_is_nested=True))

    got = harness.statuses(
        _req(mint(key, _claims(realm_access={"roles": ["admin"]}))),
        _req(mint(key, _claims(realm_access={"roles": ["user"]}))),
    )
    assert got == [200, 403]


@pytest.mark.parametrize(("matcher", "expected"), [("any", [200, 200, 403]), ("all", [200, 403, 403])])
def test_scopes(server: JwksServer, matcher: str, expected: list[int]) -> None:
    key = rsa_key("k1")
    server.body = jwks(key)
    harness = Harness(_config(server, scopes=("read", "write"), scopes_key="scope", scopes_matcher=matcher))

    got = harness.statuses(
        _req(mint(key, _claims(scope="read write"))),
        _req(mint(key, _claims(scope="read"))),
        _req(mint(key, _claims(scope="other"))),
    )
    assert got == expected


def test_claims_are_propagated_and_forged_headers_never_pass(server: JwksServer) -> None:
    key = rsa_key("k1")
    server.body = jwks(key)
    propagate = (
        ("sub", "X-User-Id"),
        ("roles", "X-Roles"),
        ("org.id", "X-Org-Id"),
        ("level", "X-Level"),
        ("missing", "X-Missing"),
    )
    harness = Harness(_config(server, propagate_claims=propagate))
    token = mint(key, _claims(roles=["a", "b"], org={"id": 7}, level=1.5))

    request = _req(token, X_User_Id="forged", x_roles="forged", Accept="*/*")
    assert harness.statuses(request, _req(token, X_USER_ID="forged-again")) == [200, 200]
    for headers in harness.backend.seen:
        assert headers.get_all("X-User-Id") == ["user-1"]
        assert headers.get_all("X-Roles") == ["a,b"]
        assert headers.get_all("X-Org-Id") == ["7"]
        assert headers.get_all("X-Level") == ["1.500000"]
        assert headers.get_all("X-Missing") == [""]
    assert harness.backend.seen[0].get("Accept") == "*/*"


def test_a_claim_cannot_inject_a_header(server: JwksServer) -> None:
    key = rsa_key("k1")
    server.body = jwks(key)
    harness = Harness(_config(server, propagate_claims=(("sub", "X-User-Id"),)))

    assert harness.statuses(_req(mint(key, _claims(sub="a\r\nX-Admin: true")))) == [200]
    assert harness.backend.seen[0].get_all("X-User-Id") == ["a  X-Admin: true"]


def _b64url(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def test_algorithm_confusion_is_refused(server: JwksServer) -> None:
    key = rsa_key("k1")
    server.body = jwks(key)
    harness = Harness(_config(server))
    public_pem = key.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # The classic confusion: an HS256 token whose HMAC secret is the RSA public key the JWKS publishes.
    signing_input = b".".join(
        [_b64url(orjson.dumps({"alg": "HS256", "kid": "k1", "typ": "JWT"})), _b64url(orjson.dumps(_claims()))]
    )
    confused = (signing_input + b"." + _b64url(hmac.digest(public_pem, signing_input, "sha256"))).decode()
    unsigned = jwt.encode(_claims(), key=None, algorithm="none", headers={"kid": "k1"})

    assert harness.statuses(_req(confused), _req(unsigned), _req("not.a.jwt"), _req("garbage")) == [401] * 4


def test_no_token_or_another_scheme_is_401(server: JwksServer) -> None:
    server.body = jwks(rsa_key("k1"))
    harness = Harness(_config(server))

    assert harness.statuses(_req(), _req(Authorization="Basic dXNlcjpwYXNz")) == [401, 401]


def test_cookie_token(server: JwksServer) -> None:
    key = rsa_key("k1")
    server.body = jwks(key)
    harness = Harness(_config(server, cookie_key="session"))
    token = mint(key, _claims())

    assert harness.statuses(_req(Cookie=f"theme=dark; session={token}"), _req(Cookie=f"access_token={token}")) == [
        200,
        401,
    ]


def test_scheme_is_case_insensitive_and_header_name_configurable(server: JwksServer) -> None:
    key = rsa_key("k1")
    server.body = jwks(key)
    harness = Harness(_config(server, auth_header_name="X-Auth"))

    assert harness.statuses(_req(X_Auth=f"bEaReR {mint(key, _claims())}")) == [200]


def test_jwks_down_keeps_the_cached_keys(server: JwksServer, caplog: pytest.LogCaptureFixture) -> None:
    key = rsa_key("k1")
    server.body = jwks(key)
    harness = Harness(_config(server, cache_duration=60))
    assert harness.statuses(_req(mint(key, _claims(jti="1")))) == [200]

    server.status = 503
    harness.clock.advance(61)  # the cached set is stale: a refresh is tried and fails
    with caplog.at_level(logging.ERROR, logger="hanzo_edge.gateway.jwt"):
        assert harness.statuses(_req(mint(key, _claims(jti="2")))) == [200]
    assert "keeping the 1 keys already held" in caplog.text
    assert server.hits == 2


def test_no_keys_is_401_and_the_log_says_why(server: JwksServer, caplog: pytest.LogCaptureFixture) -> None:
    key = rsa_key("k1")
    server.stop()
    harness = Harness(_config(server))

    with caplog.at_level(logging.ERROR, logger="hanzo_edge.gateway.jwt"):
        assert harness.statuses(_req(mint(key, _claims())), _req(mint(key, _claims(jti="2")))) == [401, 401]
    assert "fetching the JWK set" in caplog.text
    assert "no keys: tokens are refused (401)" in caplog.text
    assert caplog.text.count("fetching the JWK set") == 1  # the second request met the back-off, not the server


def test_unknown_kid_refreshes_once_per_cooldown(server: JwksServer) -> None:
    first, rotated = ec_key("first"), ec_key("rotated")
    server.body = jwks(first)
    harness = Harness(_config(server, alg="ES256", failed_jwk_key_cooldown=10))
    assert harness.statuses(_req(mint(first, _claims(), "ES256"))) == [200]
    assert server.hits == 1

    server.body = jwks(first, rotated)  # the issuer rotates a key in
    harness.clock.advance(10)
    assert harness.statuses(_req(mint(rotated, _claims(), "ES256"))) == [200]
    assert server.hits == 2

    forged = [_req(mint(ec_key(f"made-up-{i}"), _claims(), "ES256")) for i in range(5)]
    assert harness.statuses(*forged) == [401] * 5
    assert server.hits == 2  # within the cooldown: no fetch per made-up kid


def test_a_token_of_another_algorithm_is_refused_before_any_key_lookup(server: JwksServer) -> None:
    key = rsa_key("k1")
    server.body = jwks(key)
    harness = Harness(_config(server, alg="ES256"))

    assert harness.statuses(_req(mint(key, _claims(), "RS256"))) == [401]
    assert server.hits == 0


def test_repeated_token_is_verified_once_and_expires_with_exp(server: JwksServer) -> None:
    key = rsa_key("k1")
    server.body = jwks(key)
    harness = Harness(_config(server))
    calls = []
    real = harness.validator._jws.decode_complete

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    harness.validator._jws.decode_complete = counting  # type: ignore[method-assign]
    token = mint(key, _claims(exp=int(NOW) + 30))

    assert harness.statuses(_req(token), _req(token), _req(token)) == [200, 200, 200]
    assert len(calls) == 1
    harness.wall.now += 32  # past exp + 1 s leeway
    assert harness.statuses(_req(token)) == [401]


def test_a_403_is_remembered_too(server: JwksServer) -> None:
    key = rsa_key("k1")
    server.body = jwks(key)
    harness = Harness(_config(server, roles=("admin",)))
    token = mint(key, _claims(roles=["user"]))

    assert harness.statuses(_req(token), _req(token)) == [403, 403]
    assert len(harness.validator.cache) == 1


def test_operation_debug_logs_the_reason(server: JwksServer, caplog: pytest.LogCaptureFixture) -> None:
    key = rsa_key("k1")
    server.body = jwks(key)
    harness = Harness(_config(server, operation_debug=True))

    with caplog.at_level(logging.ERROR, logger="hanzo_edge.gateway.jwt"):
        harness.statuses(_req(mint(key, _claims(iss="https://evil.test"))))
    assert "[ENDPOINT: /private][JWTValidator] Unable to validate the token: validation failed, invalid issuer" in (
        caplog.text
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"jwk_url": "http://keys.test/jwks"}, "insecure connection"),
        ({"jwk_url": "https://keys.test/jwks", "alg": "XS256"}, "unknown algorithm XS256"),
        ({}, "jwk_url or a jwk_local_path"),
        ({"jwk_local_path": "/nonexistent/jwks.json"}, "reading /nonexistent/jwks.json"),
    ],
)
def test_bad_configuration_is_refused_at_build(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        KrakendJwtValidator(Backend(), KrakendJwtConfig(**options), name="x", ctx=BuildContext())


def test_cached_tokens_survive_an_unchanged_refresh_but_not_a_removed_key(server: JwksServer) -> None:
    old, new = rsa_key("old"), ec_key("new")
    server.body = jwks(old)
    harness = Harness(_config(server, cache_duration=60))
    token = mint(old, _claims())
    assert harness.statuses(_req(token)) == [200]
    generation = harness.validator.source.generation

    harness.clock.advance(61)  # refreshed: same keys, same generation, the cached token still passes
    assert harness.statuses(_req(token), _req(token)) == [200, 200]
    assert (server.hits, harness.validator.source.generation) == (2, generation)

    server.body = jwks(new)  # the issuer drops the old key
    harness.clock.advance(61)
    assert harness.statuses(_req(token)) == [401]


# krakend-ce's jwt_1 (403: role_y is not role_a/role_c), jwt_2 (401: a bad token) and jwt_3 (200), with the
# playground's /private/custom validator and its symmetric JWK set (sim1 is an A128KW key, left out; sim2 HS256).
KRAKEND_SYMMETRIC_JWKS = b"""{"keys": [
  {"kty": "oct", "alg": "A128KW", "k": "GawgguFyGrWKav7AX4VKUg", "kid": "sim1"},
  {"kty": "oct", "k": "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow",
   "kid": "sim2", "alg": "HS256"}]}"""
KRAKEND_JWT_1 = (
    "eyJhbGciOiJIUzI1NiIsImtpZCI6InNpbTIifQ.eyJhdWQiOiJodHRwOi8vYXBpLmV4YW1wbGUuY29tIiwiZXhwIjoyMDUxODgyNzU1LCJpc3Mi"
    "OiJodHRwczovL2tyYWtlbmQuaW8iLCJqdGkiOiJtbmIyM3Zjc3J0NzU2eXVpb21uYnZjeDk4ZXJ0eXVpb3AiLCJyb2xlcyI6WyJyb2xlX3kiXSwi"
    "c3ViIjoiMTIzNDU2Nzg5MHF3ZXJ0eXVpbyJ9.J4YMo4FzMxhVgRS5nZrTVgncqBu3pfF-CkT1J1lHPb8"
)
KRAKEND_JWT_3 = (
    "eyJhbGciOiJIUzI1NiIsImtpZCI6InNpbTIifQ.eyJhdWQiOiJodHRwOi8vYXBpLmV4YW1wbGUuY29tIiwiZXhwIjoyMDUxODgyNzU1LCJpc3Mi"
    "OiJodHRwczovL2tyYWtlbmQuaW8iLCJqdGkiOiJtbmIyM3Zjc3J0NzU2eXVpb21uYnZjeDk4ZXJ0eXVpb3AiLCJyb2xlcyI6WyJyb2xlX2EiLCJy"
    "b2xlX2IiXSwic3ViIjoiMTIzNDU2Nzg5MHF3ZXJ0eXVpbyJ9.BSHRvJ9_QdIT3F2pVhIhyzFv0vQ43Ltz32ehrtLhlIw"
)


def test_krakend_ce_jwt_specs(tmp_path: Path) -> None:
    path = tmp_path / "jwk-symmetric.json"
    path.write_bytes(KRAKEND_SYMMETRIC_JWKS)
    config = KrakendJwtConfig(
        alg="HS256",
        audience=("http://api.example.com",),
        roles_key="roles",
        issuer="https://krakend.io",
        roles=("role_a", "role_c"),
        jwk_local_path=str(path),
        disable_jwk_security=True,
    )
    harness = Harness(config)

    def lowercase_bearer(token: str) -> Request:
        return _req(authorization=f"bearer {token}")

    got = harness.statuses(
        lowercase_bearer(KRAKEND_JWT_1), lowercase_bearer("a.bad.token"), lowercase_bearer(KRAKEND_JWT_3)
    )
    assert got == [403, 401, 200]


def test_validators_of_one_block_share_one_verified_token_table(server: JwksServer) -> None:
    """The same block on many endpoints: one table (its bound is per configuration) and one JWK download."""
    key = rsa_key("k1")
    server.body = jwks(key)
    first = Harness(_config(server))
    second = KrakendJwtValidator(
        Backend(), _config(server), name="/other", ctx=BuildContext(clock=first.clock), wall_clock=first.wall
    )
    token = mint(key, _claims())

    async def run() -> list[int]:
        return [(await first.validator(_req(token))).status, (await second(_req(token))).status]

    assert asyncio.run(run()) == [200, 200]
    assert second.cache is first.validator.cache
    assert (len(second.cache), server.hits) == (1, 1)


def test_https_jwks_verified_with_jwk_local_ca(tmp_path: Path) -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    key = rsa_key("k1")
    secure = JwksServer(body=jwks(key), tls=server_context).start()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    try:
        trusted = Harness(KrakendJwtConfig(jwk_url=secure.url, jwk_local_ca=str(ca_file), issuer=ISSUER))
        untrusted = Harness(KrakendJwtConfig(jwk_url=secure.url, issuer=ISSUER, failed_jwk_key_cooldown=6))
        token = mint(key, _claims())

        assert trusted.statuses(_req(token)) == [200]
        assert untrusted.statuses(_req(token)) == [401]  # the system roots do not know this CA
        assert untrusted.validator.source.last_error.startswith("<urlopen error [SSL: CERTIFICATE_VERIFY_FAILED]")
    finally:
        secure.stop()


def test_jwk_fingerprints_pin_the_server_key(tmp_path: Path) -> None:
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1")
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(server_context)
    key = rsa_key("k1")
    secure = JwksServer(body=jwks(key), tls=server_context).start()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    leaf_der = ssl.PEM_cert_to_DER_cert(leaf.cert_chain_pems[0].bytes().decode())
    try:
        pinned = Harness(_pinned(secure.url, ca_file, spki_sha256(leaf_der)))
        wrong = Harness(_pinned(secure.url, ca_file, b"\0" * 32))
        token = mint(key, _claims())

        assert pinned.statuses(_req(token)) == [200]
        assert wrong.statuses(_req(token)) == [401]
        assert "did not find a pinned key" in wrong.validator.source.last_error
    finally:
        secure.stop()


def _pinned(url: str, ca_file: Path, digest: bytes) -> KrakendJwtConfig:
    return KrakendJwtConfig(jwk_url=url, jwk_local_ca=str(ca_file), issuer=ISSUER, jwk_fingerprints=(digest,))


def test_cipher_suites_govern_the_jwk_client_on_tls_1_2(tmp_path: Path) -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    server_context.maximum_version = ssl.TLSVersion.TLSv1_2
    server_context.set_ciphers("ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384")
    key = rsa_key("k1")
    secure = JwksServer(body=jwks(key), tls=server_context).start()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))

    def config(*ciphers: str) -> KrakendJwtConfig:
        return KrakendJwtConfig(jwk_url=secure.url, jwk_local_ca=str(ca_file), issuer=ISSUER, cipher_suites=ciphers)

    try:
        token = mint(key, _claims())
        assert Harness(config("ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384")).statuses(
            _req(token)
        ) == [200]
        refused = Harness(config("ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256"))
        assert refused.statuses(_req(token)) == [401]
        assert "SSL" in refused.validator.source.last_error
    finally:
        secure.stop()


@pytest.mark.parametrize(
    ("strategy", "jwk_extra", "token_header"),
    [
        ("x5t", {"x5t": "dGh1bWI"}, {"x5t": "dGh1bWI="}),  # padding differs: still the same thumbprint
        ("x5t#S256", {"x5t#S256": "c2hhMjU2"}, {"x5t#S256": "c2hhMjU2"}),
        ("kid_x5t", {"x5t": "dGh1bWI"}, {"x5t": "dGh1bWI"}),
    ],
)
def test_key_identify_strategies(
    server: JwksServer, strategy: str, jwk_extra: dict[str, str], token_header: dict[str, str]
) -> None:
    key = rsa_key("k1")
    key.public_jwk.update(jwk_extra)
    server.body = jwks(key)
    harness = Harness(_config(server, key_identify_strategy=strategy))

    good = mint(key, _claims(), headers=token_header)
    other = mint(key, _claims(jti="x"), headers={"x5t": "b3RoZXI", "x5t#S256": "b3RoZXI"})
    assert harness.statuses(_req(good), _req(other)) == [200, 401]


def test_a_hanging_jwks_refresh_does_not_hold_requests_while_keys_are_held() -> None:
    # Before the fix every request arriving while the stale set was refreshed waited for the fetch (up to its 10 s
    # timeout) even though the held keys could verify it.
    key = rsa_key("k1")
    release = threading.Event()
    fetches: list[float] = []

    def fetch(settings: SourceSettings) -> bytes:
        fetches.append(time.monotonic())
        if len(fetches) > 1:
            release.wait(8)  # a black-holed JWKS server
            raise JwksError("timed out")
        return jwks(key)

    config = KrakendJwtConfig(jwk_url="https://keys.test/jwks", issuer=ISSUER, cache=True, cache_duration=60)
    harness = Harness(config, fetch=fetch)

    async def run() -> tuple[list[int], float, float]:
        first = await harness.validator(_req(mint(key, _claims(jti="1"))))
        harness.clock.advance(61)  # the set is due: the next request starts a refresh that hangs
        started = time.monotonic()
        second = await harness.validator(_req(mint(key, _claims(jti="2"))))
        elapsed = time.monotonic() - started
        harness.clock.advance(2)  # the same fetch still hangs: a later request does not wait for it again
        started = time.monotonic()
        third = await harness.validator(_req(mint(key, _claims(jti="3"))))
        later = time.monotonic() - started
        release.set()
        return [first.status, second.status, third.status], elapsed, later

    statuses, elapsed, later = asyncio.run(run())
    assert statuses == [200, 200, 200]
    assert len(fetches) == 2
    assert elapsed < 3.0
    assert later < 0.5


def test_a_remembered_403_ends_with_the_token(server: JwksServer) -> None:
    # Before the fix a 403 was remembered for 5 minutes whatever the token's exp: an expired token kept getting 403.
    key = rsa_key("k1")
    server.body = jwks(key)
    harness = Harness(_config(server, roles=("admin",)))
    token = mint(key, _claims(roles=["user"], exp=int(NOW) + 30))

    assert harness.statuses(_req(token)) == [403]
    harness.wall.now += 32  # past exp + 1 s leeway
    assert harness.statuses(_req(token)) == [401]
