"""``krakendJwtValidator``: KrakenD's ``auth/validator`` (krakend-jose): JWS signature, claims, roles, scopes.

Per request, as krakend-jose's gin validator:

1. the token is the ``auth_header_name`` header's ``Bearer <token>`` (scheme case-insensitive), else the
   ``cookie_key`` cookie (``access_token`` by default); none → **401**;
2. its protected header must name the configured ``alg`` exactly (so an ``HS256`` token is never checked against
   an RSA public key, nor ``none`` accepted: algorithm confusion is refused before any key is touched), and its key
   id (``kid``, or ``x5t``/``x5t#S256``/``kid_x5t`` by ``key_identify_strategy``) picks the keys of the JWK set;
3. the signature is verified by PyJWT on ``cryptography`` (never by hand) with a key of the algorithm's type;
4. ``iss``, every configured ``aud``, ``exp``/``nbf``/``iat`` within ``leeway`` — any failure → **401**;
5. ``roles`` (any of, under ``roles_key``, nested with ``roles_key_is_nested``) and ``scopes`` (any/all, under
   ``scopes_key``) → **403**;
6. ``propagate_claims`` sets one request header per ``[claim, header]`` pair (KrakenD's rendering: arrays joined by
   ``,``; a missing claim gives an empty value). Every client-sent header of those names is removed first, so a
   forged identity header never reaches the backend.

Refusals have KrakenD's empty body. ``operation_debug`` logs each refusal's reason.

A verified token is remembered, keyed by its exact string, until its ``exp`` (plus leeway; at most 5 minutes when it
has none) or until the JWK set changes (a set due for refresh is refreshed by the next request, cached or not), in a
table of at most 10,000 tokens shared by the validators of equal configurations (the same block on many endpoints):
a repeated token costs a dict probe and the header rewrite, not a signature check. The wall clock (``exp``) and the
monotonic clock (JWKS refresh) are injectable; PyJWT (and so ``cryptography``) is imported when a validator is built,
never by a plain ingress.
"""

from __future__ import annotations

import base64
import binascii
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import orjson

from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.middlewares._jwks import (
    JwksError,
    SourceSettings,
    VerifyKey,
    b64url_thumbprint,
    fetch_jwks,
    key_source,
)
from hanzo_edge.middlewares._jwt_claims import (
    check_registered,
    claim_header_value,
    nested_claim,
    roles_allowed,
    scopes_allowed,
)
from hanzo_edge.middlewares.base import BuildContext, register

__all__ = ["ALGORITHMS", "KrakendJwtConfig", "KrakendJwtValidator"]

log = logging.getLogger("hanzo_edge.gateway.jwt")

# alg -> (JWK kty, curve or "") a key must have to verify it.
ALGORITHMS: dict[str, tuple[str, str]] = {
    "HS256": ("oct", ""), "HS384": ("oct", ""), "HS512": ("oct", ""),
    "RS256": ("RSA", ""), "RS384": ("RSA", ""), "RS512": ("RSA", ""),
    "PS256": ("RSA", ""), "PS384": ("RSA", ""), "PS512": ("RSA", ""),
    "ES256": ("EC", "P-256"), "ES384": ("EC", "P-384"), "ES512": ("EC", "P-521"),
    "EdDSA": ("OKP", ""),
}  # fmt: skip
"""krakend-jose's ``supportedAlgorithms``."""

KEY_STRATEGIES = ("kid", "x5t", "x5t#S256", "kid_x5t")

CACHE_MAX_TOKENS = 10_000
CACHE_MAX_AGE = 300.0  # seconds a verified token without exp is remembered


class KrakendJwtConfig(msgspec.Struct, frozen=True, kw_only=True):
    """One ``auth/validator`` block with KrakenD's defaults applied. Durations are seconds."""

    alg: str = "RS256"
    jwk_url: str = ""
    jwk_local_path: str = ""
    jwk_local_ca: str = ""
    jwk_fingerprints: tuple[bytes, ...] = ()  # decoded SHA-256 SubjectPublicKeyInfo digests
    cipher_suites: tuple[str, ...] = ()  # OpenSSL names of the JWK client's TLS 1.2 suites (() = KrakenD's)
    disable_jwk_security: bool = False
    cache: bool = False
    cache_duration: float = 900.0
    failed_jwk_key_cooldown: float = 5.0
    key_identify_strategy: str = "kid"
    issuer: str = ""
    audience: tuple[str, ...] = ()
    roles_key: str = "roles"
    roles_key_is_nested: bool = False
    roles: tuple[str, ...] = ()
    scopes_key: str = ""
    scopes: tuple[str, ...] = ()
    scopes_matcher: str = "any"
    propagate_claims: tuple[tuple[str, str], ...] = ()
    auth_header_name: str = "Authorization"
    cookie_key: str = "access_token"
    leeway: float = 1.0
    operation_debug: bool = False


def _identify(strategy: str) -> Callable[[VerifyKey], str]:
    if strategy == "x5t":
        return lambda key: b64url_thumbprint(key.x5t)
    if strategy == "x5t#S256":
        return lambda key: b64url_thumbprint(key.x5t_s256)
    if strategy == "kid_x5t":
        return lambda key: key.kid + b64url_thumbprint(key.x5t)
    return lambda key: key.kid


def _token_id(strategy: str, header: dict[str, Any]) -> str:
    kid = header.get("kid")
    kid = kid if isinstance(kid, str) else ""
    if strategy == "kid":
        return kid
    # Without the thumbprint header the kid stands in for it (krakend-jose's X5TTokenKeyIDGetter).
    x5t = header.get("x5t#S256" if strategy == "x5t#S256" else "x5t")
    thumb = b64url_thumbprint(x5t) if isinstance(x5t, str) else kid
    return kid + thumb if strategy == "kid_x5t" else thumb


def _b64decode(segment: bytes) -> bytes:
    return base64.urlsafe_b64decode(segment + b"=" * (-len(segment) % 4))


class _Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


_UNSAFE = str.maketrans({"\r": " ", "\n": " ", "\0": " "})

# A cache entry: (valid until, wall seconds; JWK set generation; 0 or the refusal status; headers to set).
_Entry = tuple[float, int, int, tuple[tuple[bytes, bytes], ...]]


class _TokenCache:
    """The verified tokens of every validator with one configuration (Hanzo's 156 identical blocks share one)."""

    __slots__ = ("__weakref__", "entries")

    def __init__(self) -> None:
        self.entries: dict[bytes, _Entry] = {}


_CACHES: weakref.WeakValueDictionary[tuple[KrakendJwtConfig, int, int], _TokenCache] = weakref.WeakValueDictionary()


@register("krakendJwtValidator", KrakendJwtConfig)
class KrakendJwtValidator:
    """Validates the request's JWT (see the module docstring). Raises ValueError for an unsupported ``alg`` or key
    identification strategy, a missing key source, or an unreadable ``jwk_local_path``."""

    __slots__ = (
        "_jws",
        "_shared",
        "alg",
        "cache",
        "config",
        "cookie_key",
        "header_name",
        "identify",
        "kty",
        "name",
        "next",
        "source",
        "strip",
        "wall_clock",
    )

    def __init__(
        self,
        next: Handler,
        config: KrakendJwtConfig,
        *,
        name: str,
        ctx: BuildContext,
        wall_clock: Callable[[], float] = time.time,
        fetch: Callable[[SourceSettings], bytes] = fetch_jwks,
    ) -> None:
        if config.alg not in ALGORITHMS:
            raise ValueError(f"JOSE: unknown algorithm {config.alg}")
        if config.key_identify_strategy not in KEY_STRATEGIES:
            raise ValueError(f"unknown key_identify_strategy {config.key_identify_strategy!r}")
        if not config.jwk_url and not config.jwk_local_path:
            raise ValueError("a jwk_url or a jwk_local_path is required")
        if config.jwk_url and not config.jwk_url.startswith("https://") and not config.disable_jwk_security:
            raise ValueError("JWK client is using an insecure connection to the JWK service")
        from jwt.api_jws import PyJWS  # imported here: a process without validators never loads cryptography

        settings = SourceSettings(
            url="" if config.jwk_local_path else config.jwk_url,
            local_path=config.jwk_local_path,
            local_ca=config.jwk_local_ca,
            insecure=config.disable_jwk_security,
            fingerprints=config.jwk_fingerprints,
            ciphers=config.cipher_suites,
            max_age=config.cache_duration if config.cache else 60.0,
            kid_cooldown=config.failed_jwk_key_cooldown,
        )
        try:
            self.source = key_source(settings, clock=ctx.clock, fetch=fetch)
        except JwksError as exc:
            raise ValueError(str(exc)) from None
        self._jws = PyJWS()
        self.next = next
        self.name = name
        self.config = config
        self.alg = config.alg
        self.kty = ALGORITHMS[config.alg]
        self.identify = _identify(config.key_identify_strategy)
        self.header_name = config.auth_header_name.lower().encode("latin-1")
        self.cookie_key = config.cookie_key
        self.strip = frozenset(header.lower().encode("latin-1") for _, header in config.propagate_claims)
        self.wall_clock = wall_clock
        # Shared by equal configurations (same source, same clock): the bound is per configuration, not per endpoint.
        shared_key = (config, id(self.source), id(wall_clock))
        shared = _CACHES.get(shared_key)
        if shared is None:
            shared = _CACHES[shared_key] = _TokenCache()
        self._shared = shared
        self.cache = shared.entries

    def __call__(self, req: Request) -> Awaitable[Response]:
        token = self._token(req)
        if not token:
            return self._refuse(401, "token not found")
        entry = self.cache.get(token)
        if entry is not None:
            until, generation, status, headers = entry
            # A set due for refresh sends the token down the slow path once: the refresh happens, and a key
            # dropped upstream stops admitting the tokens it signed even when every request is a cached one.
            source = self.source
            if generation == source.generation and self.wall_clock() < until and not source.due():
                if status:
                    return _answer(Response(status))
                if self.strip:
                    self._propagate(req, headers)
                return self.next(req)
            del self.cache[token]
        return self._verify(req, token)

    def _token(self, req: Request) -> bytes:
        value = req.headers.get_raw(self.header_name)
        if value is not None and len(value) > 7 and value[:7].lower() == b"bearer ":
            return value[7:]
        cookies = req.headers.get_raw(b"cookie")
        if cookies is not None:
            wanted = self.cookie_key.encode("latin-1")
            for part in cookies.split(b";"):
                name, sep, token = part.strip().partition(b"=")
                if sep and name == wanted:
                    return token.strip(b'"')
        return b""

    def _propagate(self, req: Request, headers: tuple[tuple[bytes, bytes], ...]) -> None:
        strip = self.strip
        kept = [pair for pair in req.headers.raw if pair[0].lower() not in strip]
        kept.extend(headers)
        req.headers = Headers(kept)

    def _refuse(self, status: int, reason: str) -> Awaitable[Response]:
        if self.config.operation_debug:
            log.error("[ENDPOINT: %s][JWTValidator] Unable to validate the token: %s", self.name, reason)
        return _answer(Response(status))

    async def _verify(self, req: Request, token: bytes) -> Response:
        generation = self.source.generation
        claims: dict[str, Any] = {}
        try:
            claims = await self._verified_claims(token)
            generation = self.source.generation
            until, headers = self._admit(claims)
        except _Refused as refused:
            if refused.status == 403:
                # Remembered no longer than the token lives: once expired it must get the 401 of an expired token.
                self._remember(token, (self._until_of(claims.get("exp")), generation, 403, ()))
            return await self._refuse(refused.status, str(refused))
        self._remember(token, (until, generation, 0, headers))
        if self.strip:
            self._propagate(req, headers)
        return await self.next(req)

    def _remember(self, token: bytes, entry: _Entry) -> None:
        cache = self.cache
        if len(cache) >= CACHE_MAX_TOKENS:
            del cache[next(iter(cache))]  # the oldest entry (dicts keep insertion order)
        cache[token] = entry

    def _until_of(self, exp: Any) -> float:
        now = self.wall_clock()
        if isinstance(exp, int | float) and not isinstance(exp, bool):
            return min(float(int(exp)) + self.config.leeway, now + CACHE_MAX_AGE)
        return now + CACHE_MAX_AGE

    async def _verified_claims(self, token: bytes) -> dict[str, Any]:
        parts = token.split(b".")
        if len(parts) != 3:
            raise _Refused(401, "square/go-jose: compact JWS format must have three parts")
        try:
            header = orjson.loads(_b64decode(parts[0]))
        except (binascii.Error, ValueError, orjson.JSONDecodeError):
            raise _Refused(401, "invalid JWS header") from None
        if not isinstance(header, dict):
            raise _Refused(401, "invalid JWS header")
        if header.get("alg") != self.alg:
            raise _Refused(401, "algorithm is invalid")
        keys = await self.source.lookup(_token_id(self.config.key_identify_strategy, header), self.identify)
        kty, crv = self.kty
        keys = tuple(key for key in keys if key.kty == kty and (not crv or key.crv == crv))
        if not keys:
            why = f" (JWK set unavailable: {self.source.last_error})" if self.source.last_error else ""
            raise _Refused(401, f"no Keys has been found{why}")
        from jwt.exceptions import PyJWTError

        payload: bytes | None = None
        for key in keys:
            try:
                payload = self._jws.decode_complete(token, key=key.key, algorithms=[self.alg])["payload"]
                break
            except (PyJWTError, ValueError, TypeError):
                continue
        if payload is None:
            raise _Refused(401, "square/go-jose: error in cryptographic primitive")
        try:
            claims = orjson.loads(payload)
        except orjson.JSONDecodeError:
            raise _Refused(401, "the token's claims are not JSON") from None
        if not isinstance(claims, dict):
            raise _Refused(401, "the token's claims are not a JSON object")
        config = self.config
        reason = check_registered(
            claims, now=self.wall_clock(), leeway=config.leeway, issuer=config.issuer, audience=config.audience
        )
        if reason:
            raise _Refused(401, reason)
        return claims

    def _admit(self, claims: dict[str, Any]) -> tuple[float, tuple[tuple[bytes, bytes], ...]]:
        config = self.config
        nested = config.roles_key_is_nested and "." in config.roles_key and config.roles_key[:4] != "http"
        if not roles_allowed(config.roles_key, nested, claims, config.roles):
            raise _Refused(403, "Token sent by client does not have sufficient roles")
        if not scopes_allowed(config.scopes_key, claims, config.scopes, config.scopes_matcher == "all"):
            raise _Refused(403, "Token sent by client does not have the required scopes")
        headers: list[tuple[bytes, bytes]] = []
        for claim, header in config.propagate_claims:
            holder: Any = claims
            key = claim
            if "." in claim and claim[:4] != "http":
                key, holder = nested_claim(claim, claims)
            value = "" if holder is None or key not in holder else claim_header_value(holder[key])
            # Header values are bytes on the wire: a claim outside latin-1 goes as UTF-8, and CR, LF and NUL (which
            # would split or end the header) become spaces, so a claim can never inject a header of its own.
            headers.append((header.encode("latin-1"), value.translate(_UNSAFE).encode("utf-8")))
        return self._until_of(claims.get("exp")), tuple(headers)


async def _answer(response: Response) -> Response:
    return response
