"""``fields``: which core fields a log keeps, and the keep/drop/redact modes of request headers and query parameters.

Traefik matches core field names case-insensitively and header names by their canonical form; a mode it does not
know falls back to the default (for core fields, ``redact`` is such a mode).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Final
from urllib.parse import unquote_plus

from hanzo_edge.observability.accesslog.gofmt import canonical_header_key, target_path

if TYPE_CHECKING:
    from hanzo_edge.http.messages import Request

__all__ = ["DROP", "KEEP", "REDACT", "HeaderModes", "QueryModes", "kept_fields"]

DROP, KEEP, REDACT = 0, 1, 2
_MODES: Final = {"drop": DROP, "keep": KEEP, "redact": REDACT}
_REDACTED: Final = "REDACTED"
_CACHE_LIMIT: Final = 4096


def kept_fields(names: Iterable[str], default_mode: str, modes: Mapping[str, str]) -> frozenset[str]:
    """The fields of ``names`` that ``fields.defaultMode`` and ``fields.names`` keep."""
    default_keep = default_mode != "drop"
    by_name = {k.lower(): v for k, v in modes.items()}

    def keep(field: str) -> bool:
        mode = by_name.get(field.lower())
        return default_keep if mode not in ("keep", "drop") else mode == "keep"

    return frozenset(f for f in names if keep(f))


class HeaderModes:
    """``fields.headers``: one pass over a request's raw headers finds Host, X-Forwarded-For and the logged headers."""

    __slots__ = ("_cache", "_default", "_names", "any_logged")

    def __init__(self, default_mode: str, modes: Mapping[str, str]) -> None:
        self._default = _MODES.get(default_mode, KEEP)
        self._names = {canonical_header_key(k): _MODES.get(v, self._default) for k, v in modes.items()}
        self.any_logged = self._default != DROP or any(m != DROP for m in self._names.values())
        """False when every header is dropped (Traefik's default): the scan then skips the header map."""
        self._cache: dict[bytes, tuple[str, int]] = {}

    def mode(self, canonical: str) -> int:
        """The mode of the header named ``canonical`` (its canonical form)."""
        return self._names.get(canonical, self._default)

    def scan(self, req: Request, collect: bool) -> tuple[str, str, dict[str, str] | None]:
        """Return the first Host value, the first X-Forwarded-For value and (when ``collect``) the logged headers.

        The logged headers map canonical names to their values (repeated headers joined with ``,``, redacted ones as
        ``REDACTED``), or are None when there is none. Go keeps Host out of that map.
        """
        if not collect:
            return _host_and_forwarded_for(req.headers.raw)
        host = xff = ""
        found: dict[str, str] | None = None
        cache = self._cache
        for name, value in req.headers.raw:
            if len(name) == 4 and name.lower() == b"host":
                if not host:
                    host = value.decode("latin-1")
                continue
            if len(name) == 15 and not xff and name.lower() == b"x-forwarded-for":
                xff = value.decode("latin-1")
            if collect:
                entry = cache.get(name)
                if entry is None:
                    canonical = canonical_header_key(name.decode("latin-1"))
                    entry = (canonical, self._names.get(canonical, self._default))
                    if len(cache) < _CACHE_LIMIT:
                        cache[name] = entry
                key, mode = entry
                if mode == DROP:
                    continue
                if found is None:
                    found = {}
                if mode == REDACT:
                    found[key] = _REDACTED
                elif key in found:
                    found[key] += "," + value.decode("latin-1")
                else:
                    found[key] = value.decode("latin-1")
        return host, xff, found


def _host_and_forwarded_for(raw: list[tuple[bytes, bytes]]) -> tuple[str, str, None]:
    # HeaderModes.scan without the header map (Traefik's default drops every header): one length test per field,
    # about half the loop with collection (a request carries ~10 fields once the X-Forwarded-* are added).
    host = xff = b""
    for name, value in raw:
        size = len(name)
        if size == 4:
            if not host and name.lower() == b"host":
                host = value
        elif size == 15 and not xff and name.lower() == b"x-forwarded-for":
            xff = value
    return host.decode("latin-1"), xff.decode("latin-1"), None


class QueryModes:
    """``fields.queryParameters``: the query of ``RequestPath`` with each parameter kept, dropped or redacted."""

    __slots__ = ("_default", "_names", "plain", "request_path")

    def __init__(self, default_mode: str, modes: Mapping[str, str]) -> None:
        self._default = _MODES.get(default_mode, KEEP)
        self._names = {k: _MODES.get(v, self._default) for k, v in modes.items()}
        plain = self._default == KEEP and all(m == KEEP for m in self._names.values())
        self.plain = plain
        """Every parameter is kept: ``RequestPath`` is the target's path and query as received."""
        self.request_path: Callable[[str], str] = target_path if plain else self._filtered_path
        """Traefik's ``RequestPath`` of a request-target as received, its query parameters filtered by mode."""

    def _filtered_path(self, target: str) -> str:
        path = target_path(target)
        base, sep, query = path.partition("?")
        if not sep:
            return path
        kept: list[str] = []
        names = self._names
        default = self._default
        for param in query.split("&"):
            key = param.partition("=")[0]
            if names:
                lookup = unquote_plus(key) if ("%" in key or "+" in key) else key
                mode = names.get(lookup, default)
            else:
                mode = default
            if mode == KEEP:
                kept.append(param)
            elif mode == REDACT:
                kept.append(f"{key}={_REDACTED}")
        return f"{base}?{'&'.join(kept)}" if kept else base
