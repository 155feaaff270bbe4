"""``auth/validator`` through the real ``gateway run``: a JWKS server, RS256/ES256 tokens minted here with
``cryptography`` keys, a real backend. Ports krakend-ce's jwt_1 (403 role), jwt_2 (401) and jwt_3 (200) as facts."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from edge_harness import http_request
from gateway_fixtures import Gateway, JsonBackend, start_gateway

from gateway_jwt_tokens import JwksServer, ec_key, jwks, mint, rsa_key

pytestmark = pytest.mark.integration

ISSUER = "https://issuer.test"
RSA = rsa_key("rsa-1")
EC = ec_key("ec-1")


def _validator(jwks_url: str, **options: Any) -> dict[str, Any]:
    return {
        "auth/validator": {
            "jwk_url": jwks_url,
            "disable_jwk_security": True,
            "issuer": ISSUER,
            "cache": True,
            "propagate_claims": [["sub", "X-User-Id"], ["roles", "X-Roles"]],
            **options,
        }
    }


def _claims(**extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": "user-1", "iss": ISSUER, "iat": now - 5, "exp": now + 600, "roles": ["user", "ops"], **extra}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[JsonBackend, JwksServer, Gateway]]:
    backend = JsonBackend().start()
    keys = JwksServer(body=jwks(RSA, EC)).start()
    echo = [{"url_pattern": "/echo/private"}]
    passed = ["X-User-Id", "X-Roles"]
    endpoints = [
        {"endpoint": "/rs", "input_headers": passed, "backend": echo, "extra_config": _validator(keys.url)},
        {
            "endpoint": "/es",
            "input_headers": passed,
            "backend": echo,
            "extra_config": _validator(keys.url, alg="ES256"),
        },
        {"endpoint": "/admin", "backend": echo, "extra_config": _validator(keys.url, roles=["admin"])},
        {"endpoint": "/public", "input_headers": passed, "backend": echo},
    ]
    gateway = start_gateway(tmp_path_factory.mktemp("gw-jwt"), {"host": [backend.url], "endpoints": endpoints})
    try:
        yield backend, keys, gateway
    finally:
        assert gateway.stop() == 0, gateway.output()
        keys.stop()
        backend.stop()


def _get(gateway: Gateway, path: str, token: str | None = None, **headers: str) -> Any:
    sent = {k.replace("_", "-"): v for k, v in headers.items()}
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    return http_request(gateway.port, "GET", path, headers=sent)


def test_valid_rs256_and_es256_tokens_reach_the_backend_with_claims(
    env: tuple[JsonBackend, JwksServer, Gateway],
) -> None:
    _, _, gateway = env
    rs = _get(gateway, "/rs", mint(RSA, _claims()), X_User_Id="forged-admin")
    es = _get(gateway, "/es", mint(EC, _claims(sub="user-2"), "ES256"))

    assert (rs.status, es.status) == (200, 200)
    assert rs.json()["headers"]["x-user-id"] == ["user-1"]
    assert rs.json()["headers"]["x-roles"] == ["user,ops"]
    assert es.json()["headers"]["x-user-id"] == ["user-2"]


@pytest.mark.parametrize(
    ("claims", "alg_key"),
    [
        pytest.param(_claims(exp=int(time.time()) - 60), "rs", id="expired"),
        pytest.param(_claims(nbf=int(time.time()) + 3600), "rs", id="not-yet-valid"),
        pytest.param(_claims(iss="https://evil.test"), "rs", id="wrong-issuer"),
        pytest.param(_claims(), "es-token-on-rs-endpoint", id="wrong-algorithm"),
    ],
)
def test_invalid_tokens_get_an_empty_401(
    env: tuple[JsonBackend, JwksServer, Gateway], claims: dict[str, Any], alg_key: str
) -> None:
    _, _, gateway = env
    token = mint(EC, claims, "ES256") if alg_key == "es-token-on-rs-endpoint" else mint(RSA, claims)

    response = _get(gateway, "/rs", token)
    assert (response.status, response.body) == (401, b"")


def test_no_token_is_401_and_a_missing_role_403(env: tuple[JsonBackend, JwksServer, Gateway]) -> None:
    _, _, gateway = env

    assert _get(gateway, "/rs").status == 401
    assert _get(gateway, "/admin", mint(RSA, _claims())).status == 403
    assert _get(gateway, "/admin", mint(RSA, _claims(roles=["admin"]))).status == 200


def test_jwks_down_keeps_the_cached_keys(env: tuple[JsonBackend, JwksServer, Gateway]) -> None:
    _, keys, gateway = env
    assert _get(gateway, "/rs", mint(RSA, _claims(jti="before"))).status == 200
    keys.status = 500  # the JWKS server fails from now on; a token never seen before still verifies
    try:
        assert _get(gateway, "/rs", mint(RSA, _claims(jti="after"))).status == 200
    finally:
        keys.status = 200


def test_no_keys_is_401_and_the_log_says_why(tmp_path: Path) -> None:
    backend = JsonBackend().start()
    dead = JwksServer().start()
    url = dead.url
    dead.stop()
    endpoints = [{"endpoint": "/rs", "backend": [{"url_pattern": "/echo/x"}], "extra_config": _validator(url)}]
    gateway = start_gateway(tmp_path, {"host": [backend.url], "endpoints": endpoints})
    try:
        assert _get(gateway, "/rs", mint(RSA, _claims())).status == 401
        assert "fetching the JWK set" in gateway.output()
        assert "no keys: tokens are refused (401)" in gateway.output()
    finally:
        assert gateway.stop() == 0, gateway.output()
        backend.stop()
