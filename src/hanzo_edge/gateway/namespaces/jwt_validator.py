"""``auth/validator`` (krakend-jose) → the ``krakendJwtValidator`` middleware of the endpoint.

At endpoint level the block becomes one middleware (see ``middlewares/krakend_jwt.py`` for the request-time rules);
its values are checked here, so ``gateway check`` reports what KrakenD would only find at start-up (an unknown
``alg``, a plain-HTTP ``jwk_url`` without ``disable_jwk_security``, an unreadable ``jwk_local_path``). At service level
KrakenD only reads ``shared_cache_duration``: our JWK sets are always shared by every validator naming the same
source, so the block adds no middleware.
"""

from __future__ import annotations

import base64
import binascii
import re
import ssl
from collections.abc import Mapping
from typing import Any

from hanzo_edge.gateway.errors import GatewayConfigError, JsonPath
from hanzo_edge.gateway.extra_config import NamespaceMiddleware, NamespaceResult, namespace
from hanzo_edge.gateway.namespaces._values import Block
from hanzo_edge.middlewares._jwks import JwksError, SourceSettings, key_source
from hanzo_edge.middlewares.krakend_jwt import ALGORITHMS, KEY_STRATEGIES, KrakendJwtConfig
from hanzo_edge.tls.ciphers import SUITES

__all__ = ["jwt_validator"]

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")

_UNSUPPORTED = {
    "secret_url": "encrypted local JWK sets are not read",
    "cypher_key": "encrypted local JWK sets are not read",
}


def _propagate(block: Block) -> tuple[tuple[str, str], ...]:
    value = block.config.get("propagate_claims")
    if value is None:
        return ()
    if not isinstance(value, list):
        raise block.error("propagate_claims", 'want an array of ["claim", "Header-Name"] pairs')
    pairs: list[tuple[str, str]] = []
    for index, pair in enumerate(value):
        where = (*block.at("propagate_claims"), index)
        if not isinstance(pair, list) or len(pair) != 2 or not all(isinstance(item, str) for item in pair):
            raise GatewayConfigError(where, 'want a ["claim", "Header-Name"] pair')
        claim, header = pair
        if not _TOKEN.fullmatch(header):
            raise GatewayConfigError((*where, 1), f"{header!r} is not a valid header name")
        pairs.append((claim, header))
    return tuple(pairs)


def _fingerprints(block: Block) -> tuple[bytes, ...]:
    """``jwk_fingerprints``: base64url SHA-256 digests of pinned SubjectPublicKeyInfos (KrakenD's decoding)."""
    decoded: list[bytes] = []
    for index, text in enumerate(block.strings("jwk_fingerprints")):
        try:
            digest = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except (ValueError, binascii.Error) as exc:
            raise GatewayConfigError(
                (*block.at("jwk_fingerprints"), index), f"decoding fingerprint #{index}: {exc}"
            ) from None
        decoded.append(digest)
    return tuple(decoded)


def _cipher_suites(block: Block) -> tuple[str, ...]:
    """``cipher_suites``: Go's uint16 suite ids, mapped to OpenSSL names through the one cipher table."""
    value = block.config.get("cipher_suites")
    if value is None:
        return ()
    if not isinstance(value, list):
        raise block.error("cipher_suites", "want an array of cipher suite ids")
    by_code = {suite.code: suite for suite in SUITES}
    names: list[str] = []
    for index, code in enumerate(value):
        suite = by_code.get(code) if isinstance(code, int) and not isinstance(code, bool) else None
        if suite is None or not suite.openssl:
            raise GatewayConfigError((*block.at("cipher_suites"), index), f"unknown cipher suite {code!r}")
        if not suite.tls13:
            names.append(suite.openssl)
    if names:
        try:  # an old suite (RC4, 3DES) the local OpenSSL no longer has is a configuration error, found by check
            ssl.create_default_context().set_ciphers(":".join(names))
        except ssl.SSLError:
            raise block.error("cipher_suites", "none of these TLS 1.2 suites is available in OpenSSL") from None
    return tuple(names)


def _service_level(block: Block) -> NamespaceResult:
    block.duration("shared_cache_duration", 0.0)
    for key in block.config:
        if key != "shared_cache_duration":
            block.warn(key, f"auth/validator.{key} at service level is not used (KrakenD reads it per endpoint)")
    return NamespaceResult(warnings=tuple(block.warnings))


@namespace("auth/validator", scopes={"endpoint", "service"})
def jwt_validator(config: Mapping[str, Any], where: JsonPath) -> NamespaceResult:
    """Validate an ``auth/validator`` block; at endpoint level return its ``krakendJwtValidator`` middleware.

    The middleware is outermost in the endpoint's chain (krakend-ce runs the validator before the rate limit).
    """
    block = Block(config, where)
    if where[:1] == ("extra_config",):
        return _service_level(block)
    alg = block.string("alg", "RS256")
    if alg not in ALGORITHMS:
        raise block.error("alg", f"JOSE: unknown algorithm {alg} (want one of {', '.join(ALGORITHMS)})")
    jwk_url = block.string("jwk_url")
    local_path = block.string("jwk_local_path")
    insecure = block.boolean("disable_jwk_security")
    if not jwk_url and not local_path:
        raise block.error("jwk_url", "a jwk_url (or a jwk_local_path) is required")
    if jwk_url and not local_path and not jwk_url.startswith("https://") and not insecure:
        raise block.error(
            "jwk_url", "JWK client is using an insecure connection to the JWK service (set disable_jwk_security)"
        )
    if jwk_url and not jwk_url.startswith(("https://", "http://")):
        raise block.error("jwk_url", f"{jwk_url!r} is not an http(s) URL")
    strategy = block.string("key_identify_strategy", "kid") or "kid"
    if strategy not in KEY_STRATEGIES:
        block.warn("key_identify_strategy", f"unknown strategy {strategy!r}: keys are identified by kid, as KrakenD")
        strategy = "kid"
    matcher = block.string("scopes_matcher", "any") or "any"
    if matcher not in ("any", "all"):
        block.warn("scopes_matcher", f"unknown matcher {matcher!r}: any scope matches, as KrakenD")
        matcher = "any"
    block.unsupported(_UNSUPPORTED)
    options = KrakendJwtConfig(
        alg=alg,
        jwk_url=jwk_url,
        jwk_local_path=local_path,
        jwk_local_ca=block.string("jwk_local_ca"),
        jwk_fingerprints=_fingerprints(block),
        cipher_suites=_cipher_suites(block),
        disable_jwk_security=insecure,
        cache=block.boolean("cache"),
        cache_duration=block.duration("cache_duration", 900.0) or 900.0,
        failed_jwk_key_cooldown=block.duration("failed_jwk_key_cooldown", 5.0) or 5.0,
        key_identify_strategy=strategy,
        issuer=block.string("issuer"),
        audience=block.strings("audience"),
        roles_key=block.string("roles_key", "roles") or "roles",
        roles_key_is_nested=block.boolean("roles_key_is_nested"),
        roles=block.strings("roles"),
        scopes_key=block.string("scopes_key"),
        scopes=block.strings("scopes"),
        scopes_matcher=matcher,
        propagate_claims=_propagate(block),
        auth_header_name=block.string("auth_header_name", "Authorization") or "Authorization",
        cookie_key=block.string("cookie_key", "access_token") or "access_token",
        leeway=block.duration("leeway", 1.0),
        operation_debug=block.boolean("operation_debug"),
    )
    if options.scopes and not options.scopes_key:
        block.warn("scopes", "scopes without scopes_key are not checked, as KrakenD")
    if local_path:
        if jwk_url:
            block.warn("jwk_url", "jwk_local_path is set: the keys are read from the file, jwk_url is not fetched")
        try:
            # Read and parse the file now, so check reports a bad one; the running validator shares this source.
            key_source(SourceSettings(local_path=local_path))
        except JwksError as exc:
            raise block.error("jwk_local_path", str(exc)) from None
    middleware = NamespaceMiddleware("auth-validator", "krakendJwtValidator", options)
    return NamespaceResult(middlewares=(middleware,), warnings=tuple(block.warnings))
