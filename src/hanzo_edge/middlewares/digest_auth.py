"""``digestAuth``: RFC 2617 Digest authentication, MD5 with ``qop=auth`` (Traefik ``auth/digest_auth.go``).

Users are ``name:realm:HA1`` lines (``HA1 = md5(name:realm:password)``, as ``htdigest`` writes them) from
``usersFile`` (trimmed, blanks and ``#`` comments skipped) then ``users`` (an inline entry wins); only entries of
the middleware's ``realm`` can ever match. The checks are go-http-auth's: an ``Authorization: Digest …`` header
whose ``opaque`` is ours, ``algorithm`` MD5 (assumed when absent), ``qop=auth``, a ``uri`` equal to the request
target (or a path prefix of it), and ``response = MD5(HA1:nonce:nc:cnonce:qop:MD5(method:uri))`` (compared in
constant time). Only then is the nonce judged: an unknown, expired or forged nonce, or an ``nc`` that does not grow,
is *stale*, and the new challenge says ``stale=true`` so the client retries without asking the user again.

Every failure answers ``401``, ``Content-Type: text/plain``, body ``401 Unauthorized\\n`` and a fresh challenge::

    Www-Authenticate: Digest realm="traefik", nonce="…", opaque="…", algorithm="MD5", qop="auth"

Nonces are stateless: a timestamp from ``ctx.clock`` (milliseconds), 4 random bytes and an HMAC-SHA256 tag, valid
for :attr:`DigestAuth.nonce_ttl` seconds. The HMAC key and the ``opaque`` value derive from the middleware's name,
realm and users, so every worker process of one configuration accepts the others' nonces. A bounded per-process
table remembers the last ``nc`` of recently used nonces to refuse replays.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Awaitable, Iterable
from pathlib import Path
from urllib.parse import unquote, urlsplit

from hanzo_edge.config.middlewares import DigestAuth as DigestAuthConfig
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.middlewares.base import BuildContext, register

__all__ = ["DigestAuth", "parse_digest_params"]

_UNAUTHORIZED_BODY = b"401 Unauthorized\n"
_NONCE = re.compile(r"[A-Za-z0-9_-]{32}")
_HEX = re.compile(r"[0-9A-Fa-f]+")
_NC_TABLE_MAX = 4096
_CLOCK_SKEW_MS = 1000  # workers read the same monotonic clock; allow a little ordering slack


def _md5_hex(text: str) -> str:
    return hashlib.md5(text.encode("latin-1"), usedforsecurity=False).hexdigest()


def _load_users(users_file: str, users: Iterable[str]) -> list[str]:
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
        if line.count(":") != 2:
            raise ValueError(f"error parsing DigestUser: {line}")
    return lines


def _parse_list(value: str) -> list[str]:
    """Split an RFC 2068 comma list, honouring quoted strings and backslash escapes (go-http-auth ``ParseList``)."""
    items: list[str] = []
    buf: list[str] = []
    escape = quote = False
    for ch in value:
        if escape:
            buf.append(ch)
            escape = False
        elif quote:
            if ch == "\\":
                escape = True
            else:
                if ch == '"':
                    quote = False
                buf.append(ch)
        elif ch == ",":
            items.append("".join(buf).strip())
            buf = []
        elif ch == '"':
            quote = True
            buf.append(ch)
        else:
            buf.append(ch)
    last = "".join(buf)
    if last:
        items.append(last.strip())
    return items


def parse_digest_params(authorization: str | None) -> dict[str, str] | None:
    """Return the parameters of ``Digest k=v, k="v"…`` (values unquoted), or None for anything else."""
    if authorization is None:
        return None
    scheme, space, rest = authorization.partition(" ")
    if not space or scheme != "Digest":
        return None
    params: dict[str, str] = {}
    for pair in _parse_list(rest.strip()):
        key, eq, value = pair.partition("=")
        if not eq or not value:
            params[pair] = ""
            continue
        if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
            value = value[1:-1]
        params[key] = value
    return params


@register("digestAuth")
class DigestAuth:
    """HTTP Digest authentication. Raises ValueError for an unreadable ``usersFile`` or a malformed user entry."""

    __slots__ = (
        "_clock",
        "_key",
        "_nc",
        "_users",
        "header_field",
        "name",
        "next",
        "nonce_ttl",
        "opaque",
        "realm",
        "remove_header",
    )

    def __init__(self, next: Handler, config: DigestAuthConfig, *, name: str, ctx: BuildContext) -> None:
        lines = _load_users(str(getattr(config, "users_file", "") or ""), getattr(config, "users", ()) or ())
        users: dict[str, str] = {}
        for line in lines:
            user, realm, ha1 = line.split(":")
            users[f"{user}:{realm}"] = ha1
        self._users = users
        self.realm = str(getattr(config, "realm", "") or "") or "traefik"
        self.header_field = str(getattr(config, "header_field", "") or "")
        self.remove_header = bool(getattr(config, "remove_header", False))
        self.next = next
        self.name = name
        self.nonce_ttl = 300.0
        self._clock = ctx.clock
        material = "\0".join([name, self.realm, *sorted(f"{k}:{v}" for k, v in users.items())])
        key = hashlib.sha256(b"hanzo-edge digestAuth nonce\0" + material.encode("utf-8", "surrogateescape")).digest()
        self._key = key
        self.opaque = base64.b64encode(hmac.digest(key, b"opaque", "sha256")[:12]).decode("ascii")
        self._nc: dict[str, int] = {}

    # -- nonces ----------------------------------------------------------------------------------------------------
    def _now_ms(self) -> int:
        return max(0, int(self._clock() * 1000))

    def new_nonce(self) -> str:
        """Return a fresh nonce: timestamp, random bytes and an HMAC tag, URL-safe base64 (32 characters)."""
        body = self._now_ms().to_bytes(8, "big") + secrets.token_bytes(4)
        tag = hmac.digest(self._key, body, "sha256")[:12]
        return base64.urlsafe_b64encode(body + tag).decode("ascii")

    def nonce_is_fresh(self, nonce: str) -> bool:
        """Return True when ``nonce`` was issued by this configuration and is younger than :attr:`nonce_ttl`."""
        if not _NONCE.fullmatch(nonce):
            return False
        raw = base64.urlsafe_b64decode(nonce)
        body, tag = raw[:12], raw[12:]
        if not hmac.compare_digest(tag, hmac.digest(self._key, body, "sha256")[:12]):
            return False
        age = self._now_ms() - int.from_bytes(body[:8], "big")
        return -_CLOCK_SKEW_MS <= age <= self.nonce_ttl * 1000

    # -- requests --------------------------------------------------------------------------------------------------
    def _check(self, req: Request, params: dict[str, str] | None) -> tuple[str, bool]:
        """Return ``(username, stale)``: the authenticated user (``""`` if none) and whether the nonce was stale."""
        if params is None:
            return "", False
        algorithm = params.setdefault("algorithm", "MD5")
        if params.get("opaque", "") != self.opaque or algorithm != "MD5" or params.get("qop", "") != "auth":
            return "", False
        uri = params.get("uri", "")
        if uri != req.url_path:
            # go-http-auth also accepts a uri whose path is a prefix of the request path.
            wanted = unquote(urlsplit(uri).path)
            path = unquote(req.path)
            if len(wanted) > len(path) or not path.startswith(wanted):
                return "", False
        username = params.get("username", "")
        lookup = username.encode("latin-1").decode("utf-8", "surrogateescape")
        ha1 = self._users.get(f"{lookup}:{self.realm}", "")
        nonce = params.get("nonce", "")
        nc = params.get("nc", "")
        expected = _md5_hex(
            ":".join([ha1, nonce, nc, params.get("cnonce", ""), params["qop"], _md5_hex(f"{req.method}:{uri}")])
        )
        if not hmac.compare_digest(expected.encode("latin-1"), params.get("response", "").encode("latin-1")):
            return "", False
        if not _HEX.fullmatch(nc) or int(nc, 16) >= 1 << 64:
            return "", False
        count = int(nc, 16)
        if not self.nonce_is_fresh(nonce):
            return "", True
        table = self._nc
        last = table.pop(nonce, None)
        if last is not None and last != 0 and last >= count:
            table[nonce] = last
            return "", True
        if len(table) >= _NC_TABLE_MAX:
            del table[next(iter(table))]
        table[nonce] = count
        return username, False

    def __call__(self, req: Request) -> Awaitable[Response]:
        params = parse_digest_params(req.headers.get("Authorization"))
        username, stale = self._check(req, params)
        if not username:
            if params is not None and params.get("username"):
                req.client_username = params["username"]
            return self._challenge(stale)
        req.client_username = username
        headers = req.headers
        if self.header_field:
            headers.remove(self.header_field)
            headers.raw.append((self.header_field.encode("latin-1"), username.encode("latin-1")))
        if self.remove_header:
            headers.remove("Authorization")
        return self.next(req)

    async def _challenge(self, stale: bool) -> Response:
        value = (
            f'Digest realm="{self.realm}", nonce="{self.new_nonce()}", opaque="{self.opaque}", '
            f'algorithm="MD5", qop="auth"'
        )
        if stale:
            value += ", stale=true"
        headers = Headers(
            [(b"Content-Type", b"text/plain"), (b"Www-Authenticate", value.encode("utf-8", "surrogateescape"))]
        )
        return Response(401, headers, _UNAUTHORIZED_BODY)
