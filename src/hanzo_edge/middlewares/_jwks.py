"""The keys an ``auth/validator`` verifies with: a JWK set from a URL (cached, refreshed) or a local file.

One :class:`KeySource` per distinct source setting, shared by every validator that names it (:func:`key_source`), so
190 endpoints with the same ``jwk_url`` fetch it once, and a reload keeps the fetched keys.

Refresh policy (the reasons are in docs/compat.md):

* the first lookup fetches the set; every waiting request shares that one fetch;
* the set is re-fetched lazily once it is older than ``max_age`` (``cache_duration`` with ``cache: true``, else 60 s);
* a token whose key id is unknown triggers a re-fetch at most once per ``kid_cooldown`` seconds (a key rotated in
  upstream is picked up at once; a flood of made-up key ids costs one fetch per cooldown);
* a failed fetch keeps the keys already held (stale keys beat no keys) and is logged with its reason; attempts then
  back off (1 s doubling to 30 s) so a dead JWKS server costs no request a connection attempt; while keys are held,
  a request waits for a refresh at most ``STALE_KEYS_WAIT`` (a hanging server is not a 10 s stall). With no keys at all,
  lookups answer "no key" and the validator refuses with 401; the log line says why.

The download runs in a worker thread through ``urllib`` (stdlib, HTTPS verified with the system roots or
``jwk_local_ca``; ``insecure`` allows ``http://`` and skips certificate checks, KrakenD's ``disable_jwk_security``),
with a 10 s timeout and a 1 MiB body limit. The clock is injectable for tests.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import ssl
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = ["JwksError", "KeySource", "SourceSettings", "VerifyKey", "key_source", "parse_jwks"]

log = logging.getLogger("hanzo_edge.gateway.jwt")

MAX_JWKS_BYTES = 1 << 20
FETCH_TIMEOUT = 10.0
STALE_KEYS_WAIT = 1.0  # longest a request waits for a refresh when keys are already held
_MIN_BACKOFF = 1.0
_MAX_BACKOFF = 30.0


class JwksError(Exception):
    """A JWK set could not be read, fetched or parsed; ``args[0]`` says why."""


@dataclass(frozen=True, slots=True)
class VerifyKey:
    """One verification key: its JWK identifiers, type and the ``cryptography`` key (bytes for ``oct``)."""

    kid: str
    x5t: str
    x5t_s256: str
    kty: str
    crv: str
    key: Any


@dataclass(frozen=True, slots=True)
class SourceSettings:
    """Where the keys come from and how long they are kept; equal settings share one :class:`KeySource`."""

    url: str = ""
    local_path: str = ""
    local_ca: str = ""
    insecure: bool = False
    max_age: float = 60.0
    kid_cooldown: float = 5.0
    fingerprints: tuple[bytes, ...] = ()  # SHA-256 digests of a pinned SubjectPublicKeyInfo (jwk_fingerprints)
    ciphers: tuple[str, ...] = ()  # OpenSSL names of the TLS 1.2 suites (cipher_suites); () = KrakenD's defaults


def _b64(value: object) -> str:
    return value if isinstance(value, str) else ""


def parse_jwks(data: bytes) -> tuple[VerifyKey, ...]:
    """Parse a JWK set (``{"keys": [...]}``; a single JWK is accepted too) into verification keys.

    Keys for encryption (``use: enc``) are left out; a key PyJWT cannot load is skipped with a warning. Raises
    JwksError when the document is not JSON or holds no usable key.
    """
    from jwt import PyJWK
    from jwt.exceptions import PyJWKError

    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise JwksError(f"the JWK set is not JSON: {exc}") from None
    if isinstance(document, dict) and "keys" not in document and "kty" in document:
        document = {"keys": [document]}
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise JwksError('the JWK set has no "keys" array')
    keys: list[VerifyKey] = []
    for index, jwk in enumerate(document["keys"]):
        if not isinstance(jwk, dict) or jwk.get("use") == "enc":
            continue
        try:
            loaded = PyJWK(jwk)
        except (PyJWKError, ValueError, TypeError) as exc:
            log.warning("auth/validator: JWK #%d (kid %r) skipped: %s", index, jwk.get("kid"), exc)
            continue
        keys.append(
            VerifyKey(
                kid=_b64(jwk.get("kid")),
                x5t=_b64(jwk.get("x5t")),
                x5t_s256=_b64(jwk.get("x5t#S256")),
                kty=str(jwk.get("kty", "")),
                crv=str(jwk.get("crv", "")),
                key=loaded.key,
            )
        )
    if not keys:
        raise JwksError("the JWK set holds no usable signature key")
    return tuple(keys)


# krakend-jose's DefaultEnabledCipherSuites (ECDHE with AES-GCM or ChaCha20), its TLS 1.2 floor.
DEFAULT_CIPHERS = (
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-CHACHA20-POLY1305",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
)


def _ssl_context(settings: SourceSettings) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=(settings.local_ca or None) if not settings.insecure else None)
    if settings.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    # As Go's tls.Config{MinVersion: TLS12, CipherSuites: ...}: the list governs TLS 1.2, TLS 1.3 keeps its suites.
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(":".join(settings.ciphers or DEFAULT_CIPHERS))
    return context


def spki_sha256(der_certificate: bytes) -> bytes:
    """SHA-256 of a DER certificate's SubjectPublicKeyInfo (what KrakenD's ``jwk_fingerprints`` pin)."""
    import hashlib

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    public_key = x509.load_der_x509_certificate(der_certificate).public_key()
    spki = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).digest()


def _opener(settings: SourceSettings) -> Any:
    """A urllib opener; with ``fingerprints`` every HTTPS connection it makes must present a pinned key."""
    import http.client
    import urllib.request

    context = _ssl_context(settings)
    if not settings.fingerprints:
        return urllib.request.build_opener(urllib.request.HTTPSHandler(context=context))
    pins = settings.fingerprints

    class PinnedConnection(http.client.HTTPSConnection):
        def connect(self) -> None:
            super().connect()
            # Python 3.11 exposes only the leaf certificate, so the pin must be the server's own key (KrakenD also
            # accepts a key of the chain).
            der = self.sock.getpeercert(binary_form=True)
            if der is None or spki_sha256(der) not in pins:
                self.close()
                raise ssl.SSLError("JWK client did not find a pinned key")

    class PinnedHandler(urllib.request.HTTPSHandler):
        def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(PinnedConnection, req, context=context)

    return urllib.request.build_opener(PinnedHandler())


def fetch_jwks(settings: SourceSettings) -> bytes:
    """Download the JWK set (blocking: run it in a thread). Raises JwksError with the reason."""
    import urllib.request  # only a gateway with a jwk_url needs an HTTP client of the stdlib

    request = urllib.request.Request(settings.url, headers={"Accept": "application/json", "User-Agent": "hanzo-edge"})
    try:
        with _opener(settings).open(request, timeout=FETCH_TIMEOUT) as response:
            status = response.status
            body: bytes = response.read(MAX_JWKS_BYTES + 1)
    except OSError as exc:  # URLError, HTTPError (a non-2xx), timeouts and TLS failures are all OSErrors
        raise JwksError(str(exc)) from None
    if status != 200:
        raise JwksError(f"status {status}")
    if len(body) > MAX_JWKS_BYTES:
        raise JwksError(f"the JWK set is larger than {MAX_JWKS_BYTES} bytes")
    return body


def b64url_thumbprint(value: str) -> str:
    """Return an ``x5t`` value normalised to unpadded base64url (tokens and JWKs may differ in padding)."""
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except ValueError:
        return value
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class KeySource:
    """Holds the current keys of one source and refreshes them (see the module docstring)."""

    __slots__ = (
        "__weakref__",
        "_backoff",
        "_fetch",
        "_fetched_at",
        "_inflight",
        "_inflight_started",
        "_last_attempt",
        "_next_attempt",
        "_task",
        "clock",
        "generation",
        "keys",
        "last_error",
        "settings",
    )

    def __init__(
        self,
        settings: SourceSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        fetch: Callable[[SourceSettings], bytes] = fetch_jwks,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self._fetch = fetch
        self.keys: tuple[VerifyKey, ...] = ()
        self.generation = 0
        self.last_error = ""
        self._fetched_at = -1e18
        self._last_attempt = -1e18
        self._next_attempt = -1e18
        self._backoff = _MIN_BACKOFF
        self._inflight: asyncio.Future[None] | None = None
        self._inflight_started = -1e18
        self._task: asyncio.Task[None] | None = None
        if settings.local_path:
            try:
                with open(settings.local_path, "rb") as file:
                    data = file.read(MAX_JWKS_BYTES + 1)
            except OSError as exc:
                raise JwksError(f"reading {settings.local_path}: {exc.strerror or exc}") from None
            self._install(parse_jwks(data))

    def _install(self, keys: tuple[VerifyKey, ...]) -> None:
        if keys != self.keys:
            self.keys = keys
            self.generation += 1

    def due(self) -> bool:
        """True when the next lookup would re-fetch the set (it is older than ``max_age`` and no back-off holds)."""
        if not self.settings.url:
            return False
        now = self.clock()
        return now - self._fetched_at >= self.settings.max_age and now >= self._next_attempt

    def find(self, key_id: str, identify: Callable[[VerifyKey], str]) -> tuple[VerifyKey, ...]:
        """The keys held whose identifier (by ``identify``) is ``key_id``; no fetching."""
        return tuple(key for key in self.keys if identify(key) == key_id)

    async def lookup(self, key_id: str, identify: Callable[[VerifyKey], str]) -> tuple[VerifyKey, ...]:
        """Return the keys for ``key_id``, fetching or refreshing the set first when the policy says so."""
        if not self.settings.url:
            return self.find(key_id, identify)
        now = self.clock()
        if now - self._fetched_at >= self.settings.max_age:
            await self._refresh(now)
        found = self.find(key_id, identify)
        if found:
            return found
        now = self.clock()
        if self.keys and now - self._last_attempt >= self.settings.kid_cooldown:
            await self._refresh(now)
            found = self.find(key_id, identify)
        return found

    async def _refresh(self, now: float) -> None:
        if now < self._next_attempt:
            return  # backing off after a failure: keep what we have
        inflight = self._inflight
        loop = asyncio.get_running_loop()
        if inflight is None or inflight.done() or inflight.get_loop() is not loop:
            inflight = self._inflight = loop.create_future()
            self._inflight_started = self.clock()
            self._task = loop.create_task(self._run_fetch(inflight))  # kept: a task nobody holds may be collected
        if not self.keys:
            await asyncio.shield(inflight)  # nothing to verify with until it answers (bounded by FETCH_TIMEOUT)
            return
        # Keys are held: a slow or black-holed JWKS server must not hold requests for FETCH_TIMEOUT. Requests wait
        # until STALE_KEYS_WAIT after the fetch started (a healthy server answers well within it, so a rotated key
        # applies at once), then go on with the held keys while the fetch finishes in the background.
        budget = self._inflight_started + STALE_KEYS_WAIT - self.clock()
        if budget <= 0:
            return
        try:
            async with asyncio.timeout(budget):
                await asyncio.shield(inflight)
        except TimeoutError:
            pass

    async def _run_fetch(self, done: asyncio.Future[None]) -> None:
        self._last_attempt = self.clock()
        try:
            data = await asyncio.get_running_loop().run_in_executor(None, self._fetch, self.settings)
            keys = parse_jwks(data)
        except JwksError as exc:
            self._failed(str(exc))
        except Exception as exc:  # a fetch must never take the request path down with it
            self._failed(f"{type(exc).__name__}: {exc}")
        else:
            self._install(keys)
            self._fetched_at = self.clock()
            self._backoff = _MIN_BACKOFF
            self._next_attempt = -1e18
            if self.last_error:
                log.warning("auth/validator: JWK set %s fetched again (%d keys)", self.settings.url, len(keys))
            self.last_error = ""
        finally:
            if not done.done():
                done.set_result(None)

    def _failed(self, reason: str) -> None:
        self.last_error = reason
        held = f"keeping the {len(self.keys)} keys already held" if self.keys else "no keys: tokens are refused (401)"
        log.error("auth/validator: fetching the JWK set %s failed: %s; %s", self.settings.url, reason, held)
        self._next_attempt = self.clock() + self._backoff
        self._backoff = min(self._backoff * 2, _MAX_BACKOFF)


_SOURCES: weakref.WeakValueDictionary[tuple[SourceSettings, int, int], KeySource] = weakref.WeakValueDictionary()


def key_source(
    settings: SourceSettings,
    *,
    clock: Callable[[], float] = time.monotonic,
    fetch: Callable[[SourceSettings], bytes] = fetch_jwks,
) -> KeySource:
    """Return the shared source for ``settings`` (made on first use). Raises JwksError for an unreadable local file."""
    shared = (settings, id(clock), id(fetch))
    source = _SOURCES.get(shared)
    if source is None:
        source = KeySource(settings, clock=clock, fetch=fetch)
        _SOURCES[shared] = source
    return source
