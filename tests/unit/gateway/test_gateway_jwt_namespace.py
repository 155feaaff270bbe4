"""The ``auth/validator`` handler: gateway.json block → ``krakendJwtValidator`` options, warnings, errors."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from gateway_jwt_tokens import hmac_key, jwks
from hanzo_edge.gateway.errors import GatewayConfigError
from hanzo_edge.gateway.extra_config import NamespaceResult, handler_for
from hanzo_edge.middlewares.krakend_jwt import KrakendJwtConfig

ENDPOINT = ("endpoints", 2, "extra_config", "auth/validator")
HANZO = {
    "alg": "RS256",
    "jwk_url": "https://hanzo.id/.well-known/jwks",
    "issuer": "https://hanzo.id",
    "disable_jwk_security": False,
    "propagate_claims": [["sub", "X-User-Id"], ["owner", "X-Org-Id"], ["roles", "X-Roles"]],
}


def _handle(block: dict[str, Any], where: tuple[str | int, ...] = ENDPOINT) -> NamespaceResult:
    registered = handler_for("auth/validator", "service" if where[0] == "extra_config" else "endpoint")
    assert registered is not None
    return registered.handler(block, where)


def test_hanzo_block() -> None:
    result = _handle(HANZO)

    (middleware,) = result.middlewares
    assert middleware.kind == "krakendJwtValidator"
    assert middleware.options == KrakendJwtConfig(
        jwk_url="https://hanzo.id/.well-known/jwks",
        issuer="https://hanzo.id",
        propagate_claims=(("sub", "X-User-Id"), ("owner", "X-Org-Id"), ("roles", "X-Roles")),
    )
    assert result.warnings == ()


def test_durations_and_lists() -> None:
    block = {**HANZO, "cache": True, "cache_duration": 60, "leeway": "2m", "audience": ["a", "b"], "roles": ["admin"]}
    options = _handle(block).middlewares[0].options

    assert isinstance(options, KrakendJwtConfig)
    assert (options.cache, options.cache_duration, options.leeway) == (True, 60.0, 120.0)
    assert (options.audience, options.roles) == (("a", "b"), ("admin",))


@pytest.mark.parametrize(
    ("block", "path_end", "message"),
    [
        ({**HANZO, "alg": "none"}, "alg", "unknown algorithm none"),
        ({**HANZO, "jwk_url": "http://hanzo.id/jwks"}, "jwk_url", "insecure connection"),
        ({"alg": "RS256"}, "jwk_url", "is required"),
        ({**HANZO, "propagate_claims": [["sub"]]}, 0, "pair"),
        ({**HANZO, "propagate_claims": [["sub", "Bad Header"]]}, 1, "not a valid header name"),
        ({**HANZO, "roles": "admin"}, "roles", "array of strings"),
        ({**HANZO, "jwk_local_path": "/nonexistent/keys.json"}, "jwk_local_path", "reading"),
    ],
)
def test_bad_values_are_errors_at_their_path(block: dict[str, Any], path_end: str | int, message: str) -> None:
    with pytest.raises(GatewayConfigError, match=message) as caught:
        _handle(block)
    assert caught.value.path[-1] == path_end


def test_plain_http_jwk_url_with_disable_jwk_security() -> None:
    assert _handle({**HANZO, "jwk_url": "http://127.0.0.1:9/jwks", "disable_jwk_security": True}).middlewares


def test_local_file_is_read_at_check_time(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_bytes(jwks(hmac_key("sim1")))

    result = _handle({"alg": "HS256", "jwk_local_path": str(path)})
    assert result.middlewares[0].options.jwk_local_path == str(path)  # type: ignore[attr-defined]


def test_unsupported_keys_are_named() -> None:
    result = _handle({**HANZO, "secret_url": "https://x", "key_identify_strategy": "odd"})

    assert sorted(str(w.path[-1]) for w in result.warnings) == ["key_identify_strategy", "secret_url"]


def test_cipher_suites_map_go_ids_to_openssl_names() -> None:
    options = _handle({**HANZO, "cipher_suites": [0xC02F, 0xCCA8, 0x1301]}).middlewares[0].options

    # TLS 1.3 suites are not configurable (as in Go): only the TLS 1.2 ones are kept.
    assert options.cipher_suites == ("ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-CHACHA20-POLY1305")  # type: ignore[attr-defined]
    with pytest.raises(GatewayConfigError, match="unknown cipher suite 4660"):
        _handle({**HANZO, "cipher_suites": [0x1234]})


def test_fingerprints_are_decoded_as_krakend() -> None:
    digest = bytes(range(32))
    text = base64.urlsafe_b64encode(digest).decode()
    options = _handle({**HANZO, "jwk_fingerprints": [text]}).middlewares[0].options

    assert options.jwk_fingerprints == (digest,)  # type: ignore[attr-defined]
    with pytest.raises(GatewayConfigError, match="decoding fingerprint #0"):
        _handle({**HANZO, "jwk_fingerprints": ["not base64!"]})


def test_service_level_block_adds_no_middleware_and_names_ignored_keys() -> None:
    result = _handle({"shared_cache_duration": 900, "alg": "RS256"}, ("extra_config", "auth/validator"))

    assert result.middlewares == ()
    assert [w.path[-1] for w in result.warnings] == ["alg"]
