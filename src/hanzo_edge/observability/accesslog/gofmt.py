"""Go's formatting, as Traefik's access log prints its values: header keys, host:port splits, times and CLF quoting.

Every function here is pure. The ones called for each line keep small bounded memos, because the inputs repeat
(a handful of Host values, backend URLs, and the current second).
"""

from __future__ import annotations

import time
from typing import Any, Final

__all__ = [
    "NANOS",
    "PROTOCOLS",
    "Seconds",
    "canonical_header_key",
    "clf_quoted",
    "clf_text",
    "fraction",
    "service_addr",
    "split_host_port",
    "target_path",
]

NANOS: Final = 1_000_000_000
PROTOCOLS: Final = {"1.1": "HTTP/1.1", "1.0": "HTTP/1.0", "0.9": "HTTP/0.9", "2": "HTTP/2.0", "2.0": "HTTP/2.0"}
"""``req.version`` -> Go's ``req.Proto``; other versions print as ``HTTP/<version>``."""

_MONTHS: Final = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_CACHE_LIMIT: Final = 4096
_TOKEN: Final = frozenset(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def remember(cache: dict[Any, Any], key: Any, value: Any, limit: int = 8) -> None:
    """Store ``value`` in a bounded memo, cleared when full (the keys in use at any moment are few)."""
    if len(cache) >= limit:
        cache.clear()
    cache[key] = value


def canonical_header_key(name: str) -> str:
    """Return Go's ``textproto.CanonicalMIMEHeaderKey(name)``: ``user-agent`` -> ``User-Agent``.

    Like Go, a name holding a byte that is not a token character is returned unchanged.
    """
    raw = name.encode("latin-1", "replace")
    if not raw or any(b not in _TOKEN for b in raw):
        return name
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


_HOST_PORTS: dict[str, tuple[str, str]] = {}
_SERVICE_ADDRS: dict[str, str] = {}


def split_host_port(value: str) -> tuple[str, str]:
    """Go's ``net.SplitHostPort``, falling back to ``(value, "-")`` like Traefik's ``silentSplitHostPort``."""
    parts = _HOST_PORTS.get(value)
    if parts is None:
        parts = _split_host_port(value)
        remember(_HOST_PORTS, value, parts, _CACHE_LIMIT)
    return parts


def _split_host_port(value: str) -> tuple[str, str]:
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return value, "-"
        rest = value[end + 1 :]
        if rest[:1] != ":" or ":" in rest[1:]:
            return value, "-"
        return value[1:end], rest[1:]
    host, sep, port = value.rpartition(":")
    if not sep or ":" in host:
        return value, "-"
    return host, port


def service_addr(url: str) -> str:
    """``url.Host`` of a backend URL: ``http://10.0.0.2:80/x`` -> ``10.0.0.2:80``."""
    addr = _SERVICE_ADDRS.get(url)
    if addr is None:
        rest = url.partition("://")[2] or url
        for sep in "/?#":
            rest = rest.partition(sep)[0]
        addr = rest.rpartition("@")[2]
        remember(_SERVICE_ADDRS, url, addr, _CACHE_LIMIT)
    return addr


def target_path(target: str) -> str:
    """The request-target without scheme and authority: absolute-form targets keep only ``path?query``."""
    if target[:1] == "/" or target == "*":
        return target
    _, sep, rest = target.partition("://")
    if not sep:
        return target
    cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    return rest[cut:]


def fraction(nanos: int) -> str:
    """Go's RFC3339Nano fraction: ``.123456789`` with trailing zeros removed, nothing when zero."""
    return f".{nanos:09d}".rstrip("0") if nanos else ""


def clf_text(value: str) -> str:
    """Traefik's ``toLog`` for an unquoted string: ``-`` when empty."""
    return value or "-"


def clf_quoted(value: str) -> str:
    """Traefik's ``toLog`` for a quoted string: ``"value"``, or ``"-"`` when empty."""
    return f'"{value}"' if value else '"-"'


def _utc_offsets(seconds: int) -> tuple[str, str]:
    # The local UTC offset at `seconds`, as RFC 3339 ("Z", "+02:00") and as CLF ("+0200").
    offset = time.localtime(seconds).tm_gmtoff
    sign = "-" if offset < 0 else "+"
    hours, minutes = divmod(abs(offset) // 60, 60)
    rfc = "Z" if offset == 0 else f"{sign}{hours:02d}:{minutes:02d}"
    return rfc, f"{sign}{hours:02d}{minutes:02d}"


class Seconds:
    """Small per-second caches of the formatted parts of timestamps (start and log times share them)."""

    __slots__ = ("_clf_local", "_clf_utc", "_last_start", "_local", "_rfc3339", "_start_parts", "_utc")

    def __init__(self) -> None:
        self._utc: dict[int, str] = {}
        self._local: dict[int, tuple[str, str]] = {}
        self._rfc3339: dict[int, str] = {}
        self._clf_utc: dict[int, str] = {}
        self._clf_local: dict[int, str] = {}
        # The last second :meth:`start` formatted: lines come in time order, so one compare usually answers. It
        # holds a real second from the start (the epoch's), not a sentinel: -1, the second before 1970, once was
        # one, and a line starting then printed empty times.
        self._last_start = 0
        self._start_parts = (self.utc(0), *self.local(0))

    def start(self, seconds: int) -> tuple[str, str, str]:
        """``(utc(seconds), *local(seconds))``: a line's start time parts in one call, the last second kept."""
        if seconds != self._last_start:
            self._start_parts = (self.utc(seconds), *self.local(seconds))
            self._last_start = seconds
        return self._start_parts

    def utc(self, seconds: int) -> str:
        """``2006-01-02T15:04:05`` in UTC."""
        cache = self._utc
        text = cache.get(seconds)
        if text is None:
            text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
            remember(cache, seconds, text)
        return text

    def local(self, seconds: int) -> tuple[str, str]:
        """``(2006-01-02T15:04:05, offset)`` in local time, the offset as RFC 3339 (``Z`` when zero)."""
        cache = self._local
        parts = cache.get(seconds)
        if parts is None:
            parts = (time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(seconds)), _utc_offsets(seconds)[0])
            remember(cache, seconds, parts)
        return parts

    def rfc3339(self, seconds: int) -> str:
        """``2006-01-02T15:04:05-07:00`` (Go's ``time.RFC3339``, ``Z`` for UTC) in local time."""
        cache = self._rfc3339
        text = cache.get(seconds)
        if text is None:
            text = "".join(self.local(seconds))
            remember(cache, seconds, text)
        return text

    def clf(self, seconds: int, utc: bool) -> str:
        """``10/Nov/2009:23:00:00 +0000`` (Go's ``02/Jan/2006:15:04:05 -0700``) in UTC or local time."""
        cache = self._clf_utc if utc else self._clf_local
        text = cache.get(seconds)
        if text is None:
            tm = time.gmtime(seconds) if utc else time.localtime(seconds)
            zone = "+0000" if utc else _utc_offsets(seconds)[1]
            text = f"{tm.tm_mday:02d}/{_MONTHS[tm.tm_mon - 1]}/{tm.tm_year}:{time.strftime('%H:%M:%S', tm)} {zone}"
            remember(cache, seconds, text)
        return text
