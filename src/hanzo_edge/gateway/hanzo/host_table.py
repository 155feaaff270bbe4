"""The host table as data: ``routes.yaml`` (gateway-interface.md item 2) parsed and matched.

Shape (later hanzoai/gateway ``routes.yaml``)::

    redirects:  {host: URL}                                   # 301 to URL + path, query dropped
    routes:     {host: [{prefix, backend, rewrite?}, ...]}    # exact host; longest prefix first
    subdomains: {pattern: URL}                                # first pattern (file order) contained in the host

Matching (``hostProxyMiddleware``): hosts compare without their port; prefixes are plain string prefixes (``/api``
matches ``/apix``, as Hanzo's ``strings.HasPrefix``), tried longest first whatever the listing order (ties keep the
file's order); ``rewrite`` replaces the matched prefix. The table is immutable: a reload builds a new one and swaps
one reference.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from hanzo_edge.http.proxy import split_server_url

__all__ = ["HostRoute", "HostTable", "HostTableError", "Match", "load_host_table", "parse_host_table"]


class HostTableError(ValueError):
    """``routes.yaml`` cannot be used; the message says where (file, line/column or the key path)."""


@dataclass(frozen=True, slots=True)
class HostRoute:
    """One prefix of one host."""

    prefix: str
    backend: str
    rewrite: str | None = None


@dataclass(frozen=True, slots=True)
class Match:
    """What the table decided: ``kind`` is ``"redirect"`` (``url`` is the Location) or ``"proxy"`` (``url`` the
    backend, ``path`` the path to send)."""

    kind: str
    url: str
    path: str = ""


@dataclass(frozen=True, slots=True)
class HostTable:
    """See the module docstring."""

    redirects: dict[str, str] = field(default_factory=dict)
    routes: dict[str, tuple[HostRoute, ...]] = field(default_factory=dict)
    subdomains: tuple[tuple[str, str], ...] = ()

    def backends(self) -> set[str]:
        """Every backend URL of the table (one upstream target each)."""
        out = {route.backend for routes in self.routes.values() for route in routes}
        out.update(url for _, url in self.subdomains)
        return out

    def match(self, host: str, path: str) -> Match | None:
        """The decision for ``host`` (without port, lower-case) and ``path``; None: on to the gateway.json routes."""
        target = self.redirects.get(host)
        if target is not None:
            return Match("redirect", target + path)
        routes = self.routes.get(host)
        if routes is not None:
            for route in routes:
                if path.startswith(route.prefix):
                    if route.rewrite is not None:
                        return Match("proxy", route.backend, route.rewrite + path[len(route.prefix) :])
                    return Match("proxy", route.backend, path)
        for pattern, url in self.subdomains:
            if pattern in host:
                return Match("proxy", url, path)
        return None


def _url(value: Any, where: str, *, backend: bool) -> str:
    if not isinstance(value, str) or not value.strip():
        raise HostTableError(f"{where}: want a URL string")
    url = value.strip()
    if backend:
        try:
            split_server_url(url)
        except ValueError as exc:
            raise HostTableError(f"{where}: {exc}") from None
        if not url.lower().startswith(("http://", "https://")):
            raise HostTableError(f"{where}: {url!r} is not an http:// or https:// URL")
    elif not url.lower().startswith(("http://", "https://")):
        raise HostTableError(f"{where}: {url!r} is not an http:// or https:// URL")
    return url


def _host(key: Any, where: str) -> str:
    if not isinstance(key, str) or not key.strip():
        raise HostTableError(f"{where}: a host must be a non-empty string, got {key!r}")
    return key.strip().lower().split(":", 1)[0]


def parse_host_table(document: Any, source: str = "routes.yaml") -> HostTable:
    """Build a table from the parsed YAML ``document``. Raises HostTableError naming ``source`` and the key."""
    if document is None:
        return HostTable()
    if not isinstance(document, dict):
        raise HostTableError(f"{source}: want a mapping with redirects, routes and subdomains")
    unknown = set(document) - {"redirects", "routes", "subdomains"}
    if unknown:
        raise HostTableError(
            f"{source}: unknown key(s) {sorted(map(str, unknown))}; want redirects, routes, subdomains"
        )
    redirects: dict[str, str] = {}
    for key, value in _mapping(document.get("redirects"), f"{source}: redirects").items():
        host = _host(key, f"{source}: redirects")
        # Location is this URL then the request path, verbatim (Hanzo's `target + path`).
        redirects[host] = _url(value, f"{source}: redirects.{key}", backend=False)
    routes: dict[str, tuple[HostRoute, ...]] = {}
    for key, entries in _mapping(document.get("routes"), f"{source}: routes").items():
        host = _host(key, f"{source}: routes")
        where = f"{source}: routes.{key}"
        if not isinstance(entries, list) or not entries:
            raise HostTableError(f"{where}: want a list of {{prefix, backend, rewrite?}}")
        parsed: list[HostRoute] = []
        for index, entry in enumerate(entries):
            at = f"{where}[{index}]"
            if not isinstance(entry, dict):
                raise HostTableError(f"{at}: want {{prefix, backend, rewrite?}}")
            extra = set(entry) - {"prefix", "backend", "rewrite"}
            if extra:
                raise HostTableError(f"{at}: unknown key(s) {sorted(map(str, extra))}")
            prefix = entry.get("prefix")
            if not isinstance(prefix, str) or not prefix.startswith("/"):
                raise HostTableError(f"{at}.prefix: want a path starting with '/', got {prefix!r}")
            rewrite = entry.get("rewrite")
            if rewrite is not None and (not isinstance(rewrite, str) or not rewrite.startswith("/")):
                raise HostTableError(f"{at}.rewrite: want a path starting with '/', got {rewrite!r}")
            parsed.append(HostRoute(prefix, _url(entry.get("backend"), f"{at}.backend", backend=True), rewrite))
        # Longest prefix first; sorted() is stable, so equal lengths keep the file's order.
        routes[host] = tuple(sorted(parsed, key=lambda r: -len(r.prefix)))
    subdomains: list[tuple[str, str]] = []
    for key, value in _mapping(document.get("subdomains"), f"{source}: subdomains").items():
        if not isinstance(key, str) or not key:
            raise HostTableError(f"{source}: subdomains: a pattern must be a non-empty string, got {key!r}")
        subdomains.append((key.lower(), _url(value, f"{source}: subdomains.{key}", backend=True)))
    return HostTable(redirects, routes, tuple(subdomains))


def _mapping(value: Any, where: str) -> dict[Any, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise HostTableError(f"{where}: want a mapping")
    return value


def load_host_table(path: str) -> HostTable:
    """Read and parse ``path``. Raises HostTableError with the file and, for YAML errors, the line and column."""
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except OSError as exc:
        raise HostTableError(f"{path}: {exc.strerror or exc}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else path
        problem = getattr(exc, "problem", None) or str(exc)
        raise HostTableError(f"{where}: invalid YAML: {problem}") from None
    return parse_host_table(document, path)
