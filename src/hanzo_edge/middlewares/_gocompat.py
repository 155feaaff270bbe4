"""Go standard-library behaviour the path and redirect middlewares reproduce (private helper, not a middleware).

* :class:`GoReplacer`: ``regexp.ReplaceAllString`` with ``Regexp.Expand`` templates (``$1``, ``${1}``, ``$name``;
  ``$1x`` is the group named ``1x``; ``$$`` is ``$``), including Go's rule for empty matches next to a previous
  match, which differs from Python's ``re.sub``. The regexp runs on RE2 (:mod:`hanzo_edge.rules.goregexp`).
* :func:`unescape_to_bytes` / :func:`escaped_path`: ``url.PathUnescape`` and ``URL.EscapedPath`` (what goes upstream
  after a middleware set ``RawPath``).
* :func:`go_url_string`: ``url.Parse(s).String()``, the ``Location`` Traefik writes for a redirect.
* :func:`redirect`: the tail shared by ``redirectScheme`` and ``redirectRegex`` (``pkg/middlewares/redirect``).

Strings here are request text: characters below 256 stand for the wire bytes (latin-1, as the server decodes
them); a character above 255 (only possible from configuration) is taken as its UTF-8 bytes, as Go would see it.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable
from urllib.parse import quote

from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.http.status import status_text
from hanzo_edge.rules.goregexp import GoMatch, compile_go_regexp

__all__ = [
    "ABSOLUTE_URI",
    "GoReplacer",
    "escaped_path",
    "go_url_string",
    "redirect",
    "request_uri",
    "to_bytes",
    "unescape_to_bytes",
]

_HEX = frozenset("0123456789abcdefABCDEF")
_ALNUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_UNRESERVED = _ALNUM | frozenset("-_.~")
_SUB_DELIMS = frozenset("!$&'()*+,;=:@[]%")
# validEncoded(s, encodePath) / (s, encodeFragment): characters a raw path / fragment may keep as they are.
_VALID_PATH = _UNRESERVED | _SUB_DELIMS | frozenset("/")
_VALID_FRAGMENT = _VALID_PATH | frozenset("?")
# escape(s, mode): characters shouldEscape leaves alone besides the unreserved ones.
_SAFE_PATH = "$&+,/:;=@"
_SAFE_FRAGMENT = "$&+,/:;=?@!()*"
_SAFE_HOST = "!$&'()*+,;=:[]<>\""
_HOST_OK = _UNRESERVED | frozenset(_SAFE_HOST)
_USERINFO_OK = _UNRESERVED | frozenset("!$&'()*+,;=:%@")
_CTL = re.compile(r"[\x00-\x1f\x7f]")
_PORT = re.compile(r"(?::[0-9]*)?\Z")


# ------------------------------------------------------------------------------------------------ regexp replace


def _is_name_char(ch: str) -> bool:
    # unicode.IsLetter, unicode.IsDigit (Nd) or '_', as Go's extract() reads a group name.
    return ch.isalpha() or ch.isdecimal() or ch == "_"


def _compile_template(template: str, names: list[str]) -> tuple[str | int, ...]:
    """Pre-parse an Expand template into literal strings and group numbers (-1: a group that does not exist)."""
    index = {name: i for i, name in reversed(list(enumerate(names))) if name}
    parts: list[str | int] = []
    literal: list[str] = []
    rest = template
    while rest:
        before, dollar, after = rest.partition("$")
        literal.append(before)
        if not dollar:
            break
        rest = after
        if rest.startswith("$"):
            literal.append("$")
            rest = rest[1:]
            continue
        brace = rest.startswith("{")
        body = rest[1:] if brace else rest
        size = 0
        while size < len(body) and _is_name_char(body[size]):
            size += 1
        if size == 0 or (brace and body[size : size + 1] != "}"):
            literal.append("$")  # malformed: the "$" is literal text
            continue
        name = body[:size]
        rest = body[size + 1 :] if brace else body[size:]
        if name.isascii() and name.isdigit() and not (name[0] == "0" and len(name) > 1) and int(name) < 10**8:
            number = int(name)
            group = number if number < len(names) else -1
        else:
            group = index.get(name, -1)
        if literal:
            parts.append("".join(literal))
            literal = []
        parts.append(group)
    if literal and (text := "".join(literal)):
        parts.append(text)
    return tuple(parts)


class GoReplacer:
    """A Go regexp (run on RE2) and an Expand template: ``replace_all`` is Go's ``ReplaceAllString``.

    Raises :class:`~hanzo_edge.rules.goregexp.GoRegexpError` (a ValueError) when Go would reject the pattern.
    """

    __slots__ = ("parts", "regex")

    def __init__(self, pattern: str, template: str) -> None:
        self.regex = compile_go_regexp(pattern)
        self.parts = _compile_template(template, self.regex.group_names)

    def matches(self, text: str) -> bool:
        """Return True when the regexp matches anywhere in ``text`` (Go's ``MatchString``)."""
        return self.regex.is_match(text)

    def expand(self, match: GoMatch) -> str:
        """Return the template expanded for ``match`` (a missing or unmatched group expands to nothing)."""
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
            elif part >= 0:
                out.append(match.group(part) or "")
        return "".join(out)

    def replace_all(self, text: str) -> str:
        """Return ``text`` with every match replaced, as Go's ``ReplaceAllString`` does."""
        search = self.regex.search
        out: list[str] = []
        last_end = 0
        pos = 0
        end = len(text)
        while pos <= end:
            match = search(text, pos)
            if match is None:
                break
            start, stop = match.span()
            out.append(text[last_end:start])
            # No replacement for an empty match right after the previous match (Go; Python's re.sub differs).
            if stop > last_end or start == 0:
                out.append(self.expand(match))
            last_end = stop
            pos = pos + 1 if pos + 1 > stop else stop
        out.append(text[last_end:])
        return "".join(out)


# ------------------------------------------------------------------------------------------------------ escaping


def to_bytes(text: str) -> bytes:
    """Return the bytes ``text`` stands for: latin-1 when it fits (wire text), else UTF-8 (configuration text)."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape")


def _escape_error(text: str, i: int) -> ValueError:
    return ValueError(f'invalid URL escape "{text[i : i + 3]}"')


def unescape_to_bytes(text: str) -> bytes:
    """Decode every ``%XX`` of ``text`` (Go's ``url.PathUnescape``). Raises ValueError ``invalid URL escape "%zz"``."""
    if "%" not in text:
        return to_bytes(text)
    out = bytearray()
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "%":
            if i + 2 >= n or text[i + 1] not in _HEX or text[i + 2] not in _HEX:
                raise _escape_error(text, i)
            out.append(int(text[i + 1 : i + 3], 16))
            i += 3
        else:
            out += to_bytes(ch)
            i += 1
    return bytes(out)


def escaped_path(raw: str) -> str:
    """Return ``URL.EscapedPath()`` for ``RawPath = raw``: ``raw`` when validly encoded, else Go's re-escaping.

    Raises ValueError when ``raw`` holds a malformed escape (Go fails earlier, in ``PathUnescape``).
    """
    if all(c in _VALID_PATH for c in raw):
        unescape_to_bytes(raw)  # validate
        return raw
    return quote(unescape_to_bytes(raw), safe=_SAFE_PATH)


# ------------------------------------------------------------------------------------------------------- url.URL


def _unescape_host(host: str) -> bytes:
    i, n = 0, len(host)
    out = bytearray()
    while i < n:
        ch = host[i]
        if ch == "%":
            if i + 2 >= n or host[i + 1] not in _HEX or host[i + 2] not in _HEX:
                raise _escape_error(host, i)
            if int(host[i + 1], 16) < 8 and host[i : i + 3] != "%25":
                raise _escape_error(host, i)
            out.append(int(host[i + 1 : i + 3], 16))
            i += 3
            continue
        if ord(ch) < 0x80 and ch not in _HOST_OK:
            raise ValueError(f'invalid character "{ch}" in host name')
        out += to_bytes(ch)
        i += 1
    return bytes(out)


def _parse_host(host: str) -> bytes:
    if host.startswith("["):
        close = host.rfind("]")
        if close < 0:
            raise ValueError("missing ']' in host")
        port = host[close + 1 :]
    else:
        colon = host.rfind(":")
        port = host[colon:] if colon >= 0 else ""
    if not _PORT.match(port):
        raise ValueError(f'invalid port "{port}" after host')
    return _unescape_host(host)


def _escaped_fragment(raw: str) -> str:
    if all(c in _VALID_FRAGMENT for c in raw):
        return raw
    return quote(unescape_to_bytes(raw), safe=_SAFE_FRAGMENT)


def _scheme(text: str) -> tuple[str, str]:
    for i, ch in enumerate(text):
        if ch.isascii() and ch.isalpha():
            continue
        if ch.isascii() and (ch.isdigit() or ch in "+-."):
            if i == 0:
                return "", text
            continue
        if ch == ":":
            if i == 0:
                raise ValueError("missing protocol scheme")
            return text[:i].lower(), text[i + 1 :]
        return "", text
    return "", text


def go_url_string(raw: str) -> str:
    """Return ``url.Parse(raw).String()``: Go's normalised form of a redirect target.

    Raises ValueError with Go's message when ``url.Parse`` fails (control character, malformed escape, bad port or
    host character, missing scheme).
    """
    if _CTL.search(raw):
        raise ValueError("net/url: invalid control character in URL")
    rest, _, fragment_raw = raw.partition("#")
    fragment = "#" + _escaped_fragment(fragment_raw) if unescape_to_bytes(fragment_raw) else ""
    if rest == "*":
        return "*" + fragment
    scheme, rest = _scheme(rest)
    force_query = rest.endswith("?") and rest.count("?") == 1
    if force_query:
        rest, query = rest[:-1], ""
    else:
        rest, _, query = rest.partition("?")
    opaque = ""
    host = ""
    user: str | None = None
    has_authority = False
    if not rest.startswith("/") and scheme:
        opaque, rest = rest, ""
    elif not rest.startswith("/") and ":" in rest.partition("/")[0]:
        raise ValueError("first path segment in URL cannot contain colon")
    if not opaque and (scheme or not rest.startswith("///")) and rest.startswith("//"):
        has_authority = True
        authority, slash, tail = rest[2:].partition("/")
        rest = slash + tail
        at = authority.rfind("@")
        if at >= 0:
            user = authority[:at]
            if any(c not in _USERINFO_OK for c in user):
                raise ValueError("net/url: invalid userinfo")
            authority = authority[at + 1 :]
        host = authority
        _parse_host(host)
    path_out = "" if opaque else escaped_path(rest)
    out: list[str] = []
    if scheme:
        out.append(scheme + ":")
    if opaque:
        out.append(opaque)
    else:
        omit_host = not has_authority and bool(scheme) and path_out.startswith("/")
        if (scheme or host or user is not None) and not (omit_host and not host and user is None):
            if host or path_out or user is not None:
                out.append("//")
            if user is not None:
                out.append(user + "@")
            if host:
                out.append(quote(_unescape_host(host), safe=_SAFE_HOST))
        if path_out and not path_out.startswith("/") and host:
            out.append("/")
        if not out and ":" in path_out.partition("/")[0]:
            out.append("./")
        out.append(path_out)
    if force_query or query:
        out.append("?" + query)
    out.append(fragment)
    return "".join(out)


# ----------------------------------------------------------------------------------------------------- redirects

ABSOLUTE_URI = re.compile(r"(https?)://(\[[\w:.]+\]|[\w._-]+)?(:\d+)?(.*)\Z", re.ASCII)
"""Traefik's ``uriRegexp``: an absolute-form request-target split into scheme, host, ``:port`` and the rest."""


def request_uri(req: Request) -> str:
    """Return Go's ``req.RequestURI`` after the path middlewares: the escaped path (``/`` when empty) and query."""
    path = req.path or "/"
    return f"{path}?{req.query}" if req.query else path


async def _answer(response: Response) -> Response:
    return response


def redirect(req: Request, old: str, new: str, permanent: bool, next: Handler) -> Awaitable[Response]:
    """Answer the redirect from ``old`` to ``new``, or call ``next`` when they are equal (Traefik's ``redirect``).

    302 (GET) / 307 (other methods), or 301 / 308 when ``permanent``; ``Location`` is Go's ``url.Parse(new)
    .String()`` and the body is the status text. A ``new`` that Go cannot parse is a 502 ``Bad Gateway`` (oxy's
    error handler maps the ``*url.Error``, a ``net.Error``, to 502).
    """
    try:
        location = go_url_string(new)
    except ValueError:
        return _answer(Response(502, Headers(), b"Bad Gateway"))
    if new == old:
        return next(req)
    get = req.method == "GET"
    status = (301 if get else 308) if permanent else (302 if get else 307)
    headers = Headers([(b"Location", to_bytes(location))])
    return _answer(Response(status, headers, status_text(status).encode("latin-1")))
