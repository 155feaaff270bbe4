"""``basicAuth``: HTTP Basic authentication against htpasswd entries (Traefik ``pkg/middlewares/auth/basic_auth.go``).

Users come from ``usersFile`` (one ``name:hash`` per line; blank lines and ``#`` comments skipped, lines trimmed)
followed by ``users``, so an inline entry wins over a file entry of the same name. Hashes are checked as
go-http-auth does, by prefix: ``{SHA}`` (base64 SHA-1), ``$2a$``/``$2b$``/``$2x$``/``$2y$`` (bcrypt), anything else
as MD5-crypt with the hash's own magic (``$apr1$`` from ``htpasswd -m``, or ``$1$``). Comparisons are constant-time.

A failure answers ``401`` with ``Www-Authenticate: Basic realm="<realm>"``, ``Content-Type: text/plain`` and the
body ``401 Unauthorized\\n``. On success ``headerField`` (if set) carries the user name upstream and
``removeHeader`` strips ``Authorization``; the user name is left in ``req.client_username`` for the access
log (also on failure, as Traefik logs it).

bcrypt is slow on purpose (tens of milliseconds): it runs in the default executor, concurrent checks of the same
credentials share one computation, and successful checks are remembered (keyed by an HMAC under a per-process
random key, never the password itself), so a client sending the same credentials costs one dictionary lookup.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

import bcrypt

from hanzo_edge.config.middlewares import BasicAuth as BasicAuthConfig
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.middlewares.base import BuildContext, register

__all__ = ["BasicAuth", "check_secret", "load_users", "md5_crypt"]

_ITOA64 = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_MD5_CRYPT_SWAPS = (12, 6, 0, 13, 7, 1, 14, 8, 2, 15, 9, 3, 5, 10, 4, 11)
_BCRYPT_PREFIXES = (b"$2a$", b"$2b$", b"$2x$", b"$2y$")
_BCRYPT_MAX_PASSWORD = 72  # bcrypt only ever reads this many bytes (Go truncates silently; Python's raises)
_CACHE_MAX = 1024
_UNAUTHORIZED_BODY = b"401 Unauthorized\n"


def md5_crypt(password: bytes, salt: bytes, magic: bytes) -> bytes:
    """Return the MD5-crypt hash ``magic + salt + "$" + digest`` (``$apr1$`` for Apache, ``$1$`` for crypt(3))."""
    d = hashlib.md5(password + magic + salt, usedforsecurity=False)
    mixin = hashlib.md5(password + salt + password, usedforsecurity=False).digest()
    n = len(password)
    d.update((mixin * (n // 16 + 1))[:n])
    i = n
    while i:
        d.update(b"\0" if i & 1 else password[:1])
        i >>= 1
    final = d.digest()
    for i in range(1000):
        d2 = hashlib.md5(final if i & 1 == 0 else password, usedforsecurity=False)
        if i % 3:
            d2.update(salt)
        if i % 7:
            d2.update(password)
        d2.update(password if i & 1 == 0 else final)
        final = d2.digest()
    out = bytearray()
    value = 0
    bits = 0
    for index in _MD5_CRYPT_SWAPS:
        value |= final[index] << bits
        bits += 8
        while bits > 6:
            out.append(_ITOA64[value & 0x3F])
            value >>= 6
            bits -= 6
    out.append(_ITOA64[value & 0x3F])
    return magic + salt + b"$" + bytes(out)


def _check_md5(password: bytes, secret: bytes) -> bool:
    parts = secret.split(b"$", 3)
    if len(parts) != 4:
        return False
    return hmac.compare_digest(secret, md5_crypt(password, parts[2], b"$" + parts[1] + b"$"))


def _check_sha(password: bytes, secret: bytes) -> bool:
    digest = base64.b64encode(hashlib.sha1(password, usedforsecurity=False).digest())
    return hmac.compare_digest(secret[5:], digest)


def _check_bcrypt(password: bytes, secret: bytes) -> bool:
    # Go's x/crypto/bcrypt reads every "$2?$" minor version the same way; Python's wants a known one.
    try:
        return bcrypt.checkpw(password[:_BCRYPT_MAX_PASSWORD], b"$2b$" + secret[4:])
    except ValueError:
        return False


def _checker(secret: bytes) -> Callable[[bytes, bytes], bool]:
    if secret.startswith(b"{SHA}"):
        return _check_sha
    if secret.startswith(_BCRYPT_PREFIXES):
        return _check_bcrypt
    return _check_md5


def check_secret(password: bytes, secret: bytes) -> bool:
    """Return True when ``password`` matches the htpasswd hash ``secret`` (go-http-auth's ``CheckSecret``)."""
    return _checker(secret)(password, secret)


def load_users(users_file: str, users: Iterable[str], kind: str, fields: int) -> list[str]:
    """Return the user lines of ``users_file`` (trimmed, no blanks or ``#`` comments) followed by ``users``.

    Raises ValueError when the file cannot be read or a line does not have exactly ``fields`` ``:``-separated
    fields (``error parsing <kind>: <line>``).
    """
    lines: list[str] = []
    if users_file:
        try:
            text = Path(users_file).read_text(encoding="utf-8", errors="surrogateescape")
        except OSError as exc:
            reason = (exc.strerror or str(exc)).lower()
            raise ValueError(f"open {users_file}: {reason}") from None
        for raw in text.split("\n"):
            line = raw.strip()
            if line and not line.startswith("#"):
                lines.append(line)
    lines.extend(users)
    for line in lines:
        if line.count(":") != fields - 1:
            raise ValueError(f"error parsing {kind}: {line}")
    return lines


def _parse_basic(value: str | None) -> tuple[bytes, bytes] | None:
    """Go's ``Request.BasicAuth``: ``Basic`` (any case) + strict base64 of ``user:password``."""
    if value is None or len(value) < 6 or value[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(value[6:].encode("latin-1"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        return None
    user, colon, password = decoded.partition(b":")
    if not colon:
        return None
    return user, password


@register("basicAuth")
class BasicAuth:
    """HTTP Basic authentication. Raises ValueError for an unreadable ``usersFile`` or a malformed user entry."""

    __slots__ = (
        "_cache",
        "_cache_key",
        "_challenge",
        "_inflight",
        "_users",
        "header_field",
        "name",
        "next",
        "realm",
        "remove_header",
    )

    def __init__(self, next: Handler, config: BasicAuthConfig, *, name: str, ctx: BuildContext) -> None:
        lines = load_users(
            str(getattr(config, "users_file", "") or ""), getattr(config, "users", ()) or (), "BasicUser", 2
        )
        users: dict[bytes, bytes] = {}
        for line in lines:
            user, _, secret = line.partition(":")
            users[user.encode("utf-8", "surrogateescape")] = secret.encode("utf-8", "surrogateescape")
        self._users = users
        self.realm = str(getattr(config, "realm", "") or "") or "traefik"
        self.header_field = str(getattr(config, "header_field", "") or "")
        self.remove_header = bool(getattr(config, "remove_header", False))
        self.next = next
        self.name = name
        self._challenge = (
            (b"Content-Type", b"text/plain"),
            (b"Www-Authenticate", f'Basic realm="{self.realm}"'.encode("utf-8", "surrogateescape")),
        )
        self._cache_key = secrets.token_bytes(32)
        self._cache: dict[bytes, bool] = {}
        self._inflight: dict[bytes, asyncio.Future[bool]] = {}

    def __call__(self, req: Request) -> Awaitable[Response]:
        credentials = _parse_basic(req.headers.get("Authorization"))
        if credentials is None:
            return self._unauthorized(req, b"")
        user, password = credentials
        secret = self._users.get(user)
        if not secret:
            return self._unauthorized(req, user)
        key = hmac.digest(self._cache_key, user + b"\0" + secret + b"\0" + password, "sha256")
        if key in self._cache:
            return self._pass(req, user)
        checker = _checker(secret)
        if checker is _check_bcrypt:
            return self._slow_check(req, user, password, secret, key)
        if checker(password, secret):
            self._remember(key)
            return self._pass(req, user)
        return self._unauthorized(req, user)

    def _remember(self, key: bytes) -> None:
        cache = self._cache
        if len(cache) >= _CACHE_MAX:
            del cache[next(iter(cache))]
        cache[key] = True

    async def _slow_check(self, req: Request, user: bytes, password: bytes, secret: bytes, key: bytes) -> Response:
        future = self._inflight.get(key)
        if future is None:
            future = asyncio.get_running_loop().run_in_executor(None, _check_bcrypt, password, secret)
            self._inflight[key] = future
            future.add_done_callback(lambda _done: self._inflight.pop(key, None))
        if await asyncio.shield(future):
            self._remember(key)
            return await self._pass(req, user)
        return await self._unauthorized(req, user)

    def _pass(self, req: Request, user: bytes) -> Awaitable[Response]:
        _record_user(req, user)
        headers = req.headers
        if self.header_field:
            headers.remove(self.header_field)
            headers.raw.append((self.header_field.encode("latin-1"), user))
        if self.remove_header:
            headers.remove("Authorization")
        return self.next(req)

    async def _unauthorized(self, req: Request, user: bytes) -> Response:
        _record_user(req, user)
        return Response(401, Headers(list(self._challenge)), _UNAUTHORIZED_BODY)


def _record_user(req: Request, user: bytes) -> None:
    req.client_username = user.decode("utf-8", "replace")
