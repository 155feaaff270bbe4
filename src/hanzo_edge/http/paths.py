"""Request-path handling done by the entrypoint before routing, as Traefik 3.6 does it.

Order (``server_entrypoint_tcp.go``): reject a literal ``#`` → ``normalize_path`` (decode escaped *unreserved*
characters, upper-case the other escapes; a malformed escape is a 400) → encoded-character policy → ``sanitize_path``
(resolve ``.``/``..``/``//``, keeping a trailing slash). The result is what goes upstream. The *routing* path that
matchers see additionally decodes every escape except reserved characters (:func:`routing_path`).
"""

from __future__ import annotations

__all__ = [
    "PathError",
    "denied_escapes",
    "encoded_character_violation",
    "normalize_path",
    "routing_path",
    "sanitize_path",
]

_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_HEX = frozenset(b"0123456789abcdefABCDEF")
_RESERVED_ESCAPES = frozenset(
    ["3A", "2F", "3F", "23", "5B", "5D", "40", "21", "24", "26", "27", "28", "29", "2A", "2B", "2C", "3B", "3D", "25"]
)


class PathError(ValueError):
    """The path cannot be accepted; the client gets a 400."""


def normalize_path(path: str) -> str:
    """Decode escaped unreserved characters and upper-case other escapes. Raises :class:`PathError` if malformed."""
    if "%" not in path:
        return path
    out: list[str] = []
    i = 0
    n = len(path)
    while i < n:
        ch = path[i]
        if ch != "%":
            out.append(ch)
            i += 1
            continue
        pair = path[i + 1 : i + 3]
        if len(pair) != 2 or not all(ord(c) in _HEX for c in pair):
            raise PathError(f"invalid URL escape {path[i : i + 3]!r}")
        code = int(pair, 16)
        out.append(chr(code) if code in _UNRESERVED else "%" + pair.upper())
        i += 3
    return "".join(out)


def sanitize_path(path: str) -> str:
    """Resolve ``.``, ``..`` and empty segments like Go's ``path.Clean``, keeping a trailing slash."""
    if "/." not in path and "//" not in path:
        return path
    segments: list[str] = []
    for seg in path.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if segments:
                segments.pop()
            continue
        segments.append(seg)
    cleaned = "/" + "/".join(segments)
    if path.endswith("/") and cleaned != "/":  # Go's URL.JoinPath keeps only a literal trailing slash
        cleaned += "/"
    return cleaned


_POLICY = {
    "allow_encoded_slash": ("%2F",),
    "allow_encoded_back_slash": ("%5C",),
    "allow_encoded_null_character": ("%00",),
    "allow_encoded_semicolon": ("%3B",),
    "allow_encoded_percent": ("%25",),
    "allow_encoded_question_mark": ("%3F",),
    "allow_encoded_hash": ("%23",),
}


def encoded_character_violation(path: str, denied: tuple[str, ...]) -> str | None:
    """Return the first denied escape (e.g. ``%2F``) present in the normalised ``path``, or None."""
    if "%" not in path:
        return None
    for escape in denied:
        if escape in path:
            return escape
    return None


def denied_escapes(**allowed: bool) -> tuple[str, ...]:
    """Return the escapes rejected by an entrypoint's ``http.encodedCharacters`` flags (``False`` = denied)."""
    out: list[str] = []
    for flag, escapes in _POLICY.items():
        if not allowed.get(flag, True):
            out.extend(escapes)
    return tuple(out)


def routing_path(path: str) -> str:
    """Return the path the matchers see: every escape decoded except reserved characters (kept upper-case)."""
    if "%" not in path:
        return path
    raw = bytearray()
    i = 0
    n = len(path)
    while i < n:
        ch = path[i]
        if ch == "%" and i + 3 <= n:
            pair = path[i + 1 : i + 3].upper()
            if all(ord(c) in _HEX for c in pair):
                if pair in _RESERVED_ESCAPES:
                    raw += b"%" + pair.encode("ascii")
                else:
                    raw.append(int(pair, 16))
                i += 3
                continue
        raw += ch.encode("utf-8")
        i += 1
    return raw.decode("utf-8", "surrogateescape")
