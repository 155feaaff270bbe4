"""Sticky sessions by cookie (Traefik ``pkg/server/service/loadbalancer/sticky.go``).

A balancer with sticky sessions registers each child by name (a load balancer's server URL, or a weighted service's
child service name). The cookie value for a child is the first 16 hex digits of ``sha256(name)``. Older Traefik
values are still accepted — the raw name, its FNV-64 hex, and the FNV-64 hex of that — and a request carrying one is
answered with a fresh cookie in the current format.

Per request: if the request's cookie names a child that is up, that child serves it and **no** ``Set-Cookie`` is sent
(unless the value was a legacy one); otherwise the balancer picks as usual and the response gets ``Set-Cookie``. Every
cookie attribute is fixed by configuration, so each child's whole ``Set-Cookie`` value is formatted once, here, in
the exact form of Go's ``http.Cookie.String`` (attribute order Path, Domain, Max-Age, HttpOnly, Secure, SameSite).
"""

from __future__ import annotations

import hashlib
import ipaddress

from hanzo_edge.http.messages import Request, Response

__all__ = ["StickyCookie", "cookie_name", "format_set_cookie", "sticky_value"]

_TOKEN_PUNCT = frozenset("!#$%&'*+-.^`|~")
_SAME_SITE = {"none": "None", "lax": "Lax", "strict": "Strict"}
_FNV64_OFFSET = 14695981039346656037
_FNV64_PRIME = 1099511628211
_MASK64 = (1 << 64) - 1


def _sanitize_name(name: str) -> str:
    # Traefik's cookie.sanitizeName: every rune that is not an RFC 2616 token character becomes "_".
    return "".join(c if (c.isascii() and c.isalnum()) or c in _TOKEN_PUNCT else "_" for c in name)


def cookie_name(name: str, service_name: str) -> str:
    """Return the cookie name Traefik uses: ``name`` sanitised to token characters, or, when ``name`` is empty,
    ``_`` + the first 5 hex digits of ``sha1("_TRAEFIK_BACKEND_" + service_name)`` (6 characters in all)."""
    if name:
        return _sanitize_name(name)
    return ("_" + hashlib.sha1(("_TRAEFIK_BACKEND_" + service_name).encode("utf-8")).hexdigest())[:6]


def sticky_value(child_name: str) -> str:
    """Return the cookie value that designates ``child_name``: 16 hex digits of its SHA-256."""
    return hashlib.sha256(child_name.encode("utf-8")).hexdigest()[:16]


def _fnv64_hex(text: str) -> str:
    # Go's hash/fnv New64 (FNV-1, not 1a), formatted like strconv.FormatUint(sum, 16).
    value = _FNV64_OFFSET
    for byte in text.encode("utf-8"):
        value = (value * _FNV64_PRIME) & _MASK64
        value ^= byte
    return format(value, "x")


def _cookie_value_byte_ok(c: str) -> bool:
    return 0x20 <= ord(c) < 0x7F and c not in '";\\'


def _sanitize_value(value: str) -> str:
    # Go's sanitizeCookieValue: drop invalid bytes, quote when a space or comma remains.
    kept = "".join(c for c in value if _cookie_value_byte_ok(c))
    if " " in kept or "," in kept:
        return f'"{kept}"'
    return kept


def _sanitize_path(path: str) -> str:
    return "".join(c for c in path if 0x20 <= ord(c) < 0x7F and c != ";")


def _is_cookie_domain_name(domain: str) -> bool:
    # Go's net/http isCookieDomainName.
    if not domain or len(domain) > 255:
        return False
    if domain[0] == ".":
        domain = domain[1:]
    last = "."
    letter = False
    part_len = 0
    for c in domain:
        if ("a" <= c <= "z") or ("A" <= c <= "Z"):
            letter = True
            part_len += 1
        elif "0" <= c <= "9":
            part_len += 1
        elif c == "-":
            if last == ".":
                return False
            part_len += 1
        elif c == ".":
            if last in ".-" or part_len > 63 or part_len == 0:
                return False
            part_len = 0
        else:
            return False
        last = c
    return not (last == "-" or part_len > 63) and letter


def _valid_cookie_domain(domain: str) -> bool:
    if _is_cookie_domain_name(domain):
        return True
    if ":" in domain:
        return False
    try:
        ipaddress.IPv4Address(domain)
    except ValueError:
        return False
    return True


def format_set_cookie(
    name: str,
    value: str,
    *,
    path: str = "",
    domain: str = "",
    max_age: int = 0,
    http_only: bool = False,
    secure: bool = False,
    same_site: str = "",
) -> str:
    """Return a ``Set-Cookie`` value exactly as Go's ``http.Cookie.String`` writes it.

    ``max_age`` < 0 becomes ``Max-Age=0`` (expire now), 0 omits the attribute (session cookie). ``same_site`` is
    ``none``/``lax``/``strict`` in any case; anything else omits it. An invalid domain is dropped, as Go does.
    """
    parts = [f"{name}={_sanitize_value(value)}"]
    if path:
        parts.append(f"; Path={_sanitize_path(path)}")
    if domain and _valid_cookie_domain(domain):
        parts.append(f"; Domain={domain.removeprefix('.')}")
    if max_age > 0:
        parts.append(f"; Max-Age={max_age}")
    elif max_age < 0:
        parts.append("; Max-Age=0")
    if http_only:
        parts.append("; HttpOnly")
    if secure:
        parts.append("; Secure")
    mode = _SAME_SITE.get(same_site.lower())
    if mode is not None:
        parts.append(f"; SameSite={mode}")
    return "".join(parts)


def _request_cookie(req: Request, name: str) -> str | None:
    # Go's Request.Cookie(name): the first well-formed pair with that name across every Cookie header.
    for header_name, raw in req.headers.raw:
        if header_name.lower() != b"cookie":
            continue
        for part in raw.decode("latin-1").strip().split(";"):
            key, _, value = part.strip().partition("=")
            if key != name:
                continue
            if len(value) > 1 and value[0] == '"' and value[-1] == '"':
                value = value[1:-1]
            if all(_cookie_value_byte_ok(c) for c in value):
                return value
    return None


class StickyCookie:
    """The sticky cookie of one balancer: maps cookie values to child names and writes ``Set-Cookie``.

    ``name`` is the configured cookie name ("" for Traefik's generated one, derived from ``service_name``, which
    should be the qualified service name, e.g. ``whoami@docker``). ``path`` defaults to ``/``; an empty ``path``
    omits the attribute.
    """

    __slots__ = (
        "_by_value",
        "_legacy",
        "_set_cookie",
        "domain",
        "http_only",
        "max_age",
        "name",
        "path",
        "same_site",
        "secure",
    )

    def __init__(
        self,
        service_name: str = "",
        *,
        name: str = "",
        secure: bool = False,
        http_only: bool = False,
        same_site: str = "",
        max_age: int = 0,
        path: str = "/",
        domain: str = "",
    ) -> None:
        self.name = cookie_name(name, service_name)
        self.http_only = http_only
        self.same_site = same_site
        self.max_age = max_age
        self.path = path
        self.domain = domain
        self.secure = secure
        self._by_value: dict[str, str] = {}
        self._legacy: dict[str, str] = {}
        self._set_cookie: dict[str, bytes] = {}

    def add(self, child_name: str) -> None:
        """Register a child so that cookies naming it (current or legacy format) are recognised."""
        value = sticky_value(child_name)
        self._by_value[value] = child_name
        self._legacy[child_name] = child_name
        fnv = _fnv64_hex(child_name)
        self._legacy[fnv] = child_name
        self._legacy[_fnv64_hex(fnv)] = child_name
        header = format_set_cookie(
            self.name,
            value,
            path=self.path,
            domain=self.domain,
            max_age=self.max_age,
            http_only=self.http_only,
            secure=self.secure,
            same_site=self.same_site,
        )
        self._set_cookie[child_name] = header.encode("latin-1")

    def lookup(self, req: Request) -> tuple[str | None, bool]:
        """Return ``(child name or None, rewrite)`` for the request's cookie.

        ``rewrite`` is True when the cookie used a legacy value and should be replaced by the current one.
        """
        value = _request_cookie(req, self.name)
        if value is None:
            return None, False
        child = self._by_value.get(value)
        if child is not None:
            return child, False
        child = self._legacy.get(value)
        return child, child is not None

    def set_cookie_value(self, child_name: str) -> bytes:
        """Return the precomputed ``Set-Cookie`` value for a registered child (KeyError if unknown)."""
        return self._set_cookie[child_name]

    def write(self, resp: Response, child_name: str) -> None:
        """Add the ``Set-Cookie`` header that sticks the client to ``child_name`` to ``resp``."""
        value = self._set_cookie.get(child_name)
        if value is not None:
            resp.headers.raw.append((b"Set-Cookie", value))
