"""JWT verification for the Hanzo auth middleware, on the ``auth/validator`` pieces (one JWT stack, not two).

The keys come from :mod:`hanzo_edge.middlewares._jwks` (the same shared, cached, refreshed :class:`KeySource` the
``auth/validator`` namespace uses: a failed refresh keeps the keys already held, so a JWKS server that is down,
slow or answering garbage never locks users out once keys were fetched). Signatures are PyJWT's; the registered
claims are checked by the validator's :func:`check_registered`.

Hanzo's rules (``auth_middleware.go``): algorithms RS/ES/PS 256-512 only (``none`` and HMAC refused); the keys whose
``kid`` matches the token's are tried first, then every RSA key; ``iss`` must be present and equal to
``AUTH_ISSUER``; ``aud`` is checked only when ``AUTH_AUDIENCE`` is set; 2 minutes of leeway; JWKS cached 5 minutes.

Verified tokens are remembered (as the ``auth/validator`` does) so a client sending the same token on every request
costs one signature check, not one per request: an entry lives until the token's ``exp`` + leeway (5 minutes at most)
and dies with any change of the JWK set; the cache is bounded (emptied when full). Billing is never cached.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import time
from collections.abc import Callable
from typing import Any

import orjson

from hanzo_edge.middlewares._jwks import KeySource, SourceSettings, VerifyKey, key_source
from hanzo_edge.middlewares._jwt_claims import check_registered

__all__ = ["ALGORITHMS", "InvalidToken", "JwtVerifier"]

ALGORITHMS = frozenset(f"{family}{bits}" for family in ("RS", "ES", "PS") for bits in (256, 384, 512))
LEEWAY = 120.0
JWKS_MAX_AGE = 300.0
CACHE_MAX_AGE = 300.0
CACHE_SIZE = 10_000


class InvalidToken(Exception):
    """The token is refused; ``args[0]`` is the reason (the 401 body's ``detail``)."""


def _b64decode(segment: bytes) -> bytes:
    return base64.urlsafe_b64decode(segment + b"=" * (-len(segment) % 4))


def _by_kid(key: VerifyKey) -> str:
    return key.kid


class JwtVerifier:
    """Verifies Hanzo IAM tokens against ``jwks_url``. ``wall_clock`` (exp/nbf/iat) and ``clock`` (JWKS cache age)
    are injectable for tests."""

    __slots__ = ("_cache", "_jws", "_refreshing", "audience", "issuer", "source", "wall_clock")

    def __init__(
        self,
        jwks_url: str,
        issuer: str,
        audience: str = "",
        *,
        wall_clock: Callable[[], float] = time.time,
        clock: Callable[[], float] = time.monotonic,
        source: KeySource | None = None,
    ) -> None:
        from jwt.api_jws import PyJWS  # imported here: cryptography is loaded only when auth is on

        # Plain http JWKS URLs are allowed (in-cluster IAM); https ones are verified against the system roots.
        settings = SourceSettings(url=jwks_url, insecure=jwks_url.startswith("http://"), max_age=JWKS_MAX_AGE)
        self.source = source if source is not None else key_source(settings, clock=clock)
        self.issuer = issuer
        self.audience = (audience,) if audience else ()
        self.wall_clock = wall_clock
        self._jws = PyJWS(options={"verify_signature": True})
        # token -> (valid until in wall seconds, JWK set generation, claims)
        self._cache: dict[str, tuple[float, int, dict[str, Any]]] = {}
        self._refreshing: asyncio.Task[tuple[VerifyKey, ...]] | None = None  # held: a task nobody holds may vanish

    async def claims(self, token: str) -> dict[str, Any]:
        """Return the verified claims of ``token``. Raises InvalidToken with the reason."""
        cached = self._cache.get(token)
        if cached is not None:
            until, generation, claims = cached
            if generation == self.source.generation and self.wall_clock() <= until and not self.source.due():
                return claims
            del self._cache[token]
        claims = await self._verify(token)
        if len(self._cache) >= CACHE_SIZE:
            self._cache.clear()  # bounded: a flood of distinct tokens costs verifications, never memory
        exp = claims.get("exp")
        now = self.wall_clock()
        until = now + CACHE_MAX_AGE
        if isinstance(exp, int | float) and not isinstance(exp, bool):
            until = min(float(exp) + LEEWAY, until)
        self._cache[token] = (until, self.source.generation, claims)
        return claims

    async def _verify(self, token: str) -> dict[str, Any]:
        raw = token.encode("latin-1", "replace")
        parts = raw.split(b".")
        if len(parts) != 3:
            raise InvalidToken("compact JWS format must have three parts")
        try:
            header = orjson.loads(_b64decode(parts[0]))
        except (binascii.Error, ValueError, orjson.JSONDecodeError):
            raise InvalidToken("invalid JWS header") from None
        if not isinstance(header, dict):
            raise InvalidToken("invalid JWS header")
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in ALGORITHMS:
            raise InvalidToken(f"unexpected signature algorithm {alg!r}; expected RS/ES/PS 256-512")
        kid = header.get("kid")
        source = self.source
        matching: tuple[VerifyKey, ...] = ()
        if isinstance(kid, str) and kid:
            matching = source.find(kid, _by_kid)
            if not matching:
                # Nothing held, or a kid we do not know (a rotation): a fetch may bring it (rate-bounded).
                matching = await source.lookup(kid, _by_kid)
            elif source.due():
                self._refresh_behind()
        elif not source.keys:
            await source.lookup("", _by_kid)  # a kid-less token still needs the set fetched once
        elif source.due():
            # Re-fetched when 5 minutes old even for kid-less tokens: else a key IAM removed would verify them for
            # as long as the process runs.
            self._refresh_behind()
        # Hanzo's fallback: every RSA key, whatever its kid.
        candidates = (*matching, *(k for k in self.source.keys if k.kty == "RSA" and k not in matching))
        if not candidates:
            why = f" (JWK set unavailable: {self.source.last_error})" if self.source.last_error else ""
            raise InvalidToken(f"no key to verify the token{why}")
        payload = self._verified_payload(raw, alg, candidates)
        try:
            claims = orjson.loads(payload)
        except orjson.JSONDecodeError:
            raise InvalidToken("the token's claims are not JSON") from None
        if not isinstance(claims, dict):
            raise InvalidToken("the token's claims are not a JSON object")
        if not claims.get("iss"):
            raise InvalidToken("missing issuer claim (iss)")
        reason = check_registered(
            claims, now=self.wall_clock(), leeway=LEEWAY, issuer=self.issuer, audience=self.audience
        )
        if reason:
            raise InvalidToken(reason)
        return claims

    def _refresh_behind(self) -> None:
        """Refresh a due JWK set without holding the request: the keys held verify it now (a JWKS server that hangs
        would otherwise hold every request for the fetch timeout, after every back-off)."""
        task = self._refreshing
        if task is None or task.done():
            self._refreshing = asyncio.get_running_loop().create_task(self.source.lookup("", _by_kid))

    def _verified_payload(self, raw: bytes, alg: str, candidates: tuple[VerifyKey, ...]) -> bytes:
        from jwt.exceptions import PyJWTError

        for key in candidates:
            try:
                payload: bytes = self._jws.decode_complete(raw, key=key.key, algorithms=[alg])["payload"]
                return payload
            except (PyJWTError, ValueError, TypeError):
                continue
        raise InvalidToken("error in cryptographic primitive: no key verifies the signature")
