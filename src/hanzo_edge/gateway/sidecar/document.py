"""Hanzo's ingress sidecar file (hanzoai/gateway ``cmd/ingress``, ``configs/hanzo/ingress.json``), read with locations.

Shape: ``{listen (":8080"), health_path ("/__health"), routes: [{host, auth?, backends: [{path, url}]}]}``. Errors
(wrong types, a missing host or url, a URL we cannot dial, an unusable ``listen``) stop the sidecar; warnings name the
data quirks Hanzo's binary silently lives with, so ``check`` reports them instead of leaving them to surprise:

- **nginx-style regex paths** (``/sync(/|$)(.*)``): the sidecar compares plain prefixes, so such a path only
  matches requests that start with those very characters, in practice never;
- **duplicate hosts**: Hanzo builds a Go map, so a later entry replaces an earlier one (``s3.hanzo.ai``); we do the
  same and say which entry is never used;
- **repeated paths** within a host: the first listed wins (strict ``>`` on the length), the others are never used;
- unknown keys (Go's ``json.Unmarshal`` ignores them; a typo such as ``backend`` would otherwise go unnoticed).

The routes become a :class:`~hanzo_edge.gateway.hanzo.host_table.HostTable` (issue 20's host table: exact host,
longest prefix first, ties in file order), so the sidecar and the gateway's host proxy match with the same code.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hanzo_edge.gateway.errors import JsonPath, format_path
from hanzo_edge.gateway.hanzo.host_table import HostTable, HostTableError, parse_host_table
from hanzo_edge.gateway.positions import Positions, locate_values
from hanzo_edge.http.proxy import split_server_url

__all__ = ["DEFAULT_HEALTH_PATH", "DEFAULT_LISTEN", "Finding", "SidecarConfig", "SidecarHost", "load_sidecar"]

DEFAULT_LISTEN = ":8080"
DEFAULT_HEALTH_PATH = "/__health"

# Characters a URL path has no reason to carry but nginx's location regexes are made of.
_REGEX_SIGNS = re.compile(r"[()|$^*+?\[\]{}\\]")


@dataclass(frozen=True, slots=True)
class Finding:
    """One error or warning with the JSON path it is about."""

    path: JsonPath
    message: str

    def render(self, positions: Positions | None) -> str:
        where = positions.of(self.path) if positions is not None else None
        located = f" (line {where[0]}, column {where[1]})" if where is not None else ""
        return f"{format_path(self.path)}{located}: {self.message}"


@dataclass(frozen=True, slots=True)
class SidecarHost:
    """One ``routes[]`` entry: its host, whether ``auth`` is on, its ``(path, url)`` backends in file order."""

    host: str
    auth: bool
    backends: tuple[tuple[str, str], ...]
    index: int


@dataclass(slots=True)
class SidecarConfig:
    """The file as the sidecar serves it, with what ``check`` reports."""

    source: str
    listen: str = DEFAULT_LISTEN
    health_path: str = DEFAULT_HEALTH_PATH
    hosts: dict[str, SidecarHost] = field(default_factory=dict)
    errors: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)
    positions: Positions | None = None
    syntax_error: str = ""

    @property
    def ok(self) -> bool:
        return not self.errors and not self.syntax_error

    def render(self, finding: Finding) -> str:
        return finding.render(self.positions)

    @property
    def auth_hosts(self) -> frozenset[str]:
        return frozenset(name for name, host in self.hosts.items() if host.auth)

    def host_table(self) -> HostTable:
        """The routes as issue 20's host table (one entry per host; the later one of a duplicate host)."""
        document = {
            "routes": {
                name: [{"prefix": path, "backend": url} for path, url in host.backends]
                for name, host in self.hosts.items()
            }
        }
        try:
            return parse_host_table(document, self.source)
        except HostTableError as exc:  # every value was checked above; this would be a bug worth a clear message
            raise ValueError(f"{self.source}: {exc}") from None


def load_sidecar(path: str) -> SidecarConfig:
    """Read and check ``path``; the result carries the errors and warnings (never raises for the file's content)."""
    config = SidecarConfig(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        config.syntax_error = f"open {path}: no such file or directory"
        return config
    except (OSError, UnicodeDecodeError) as exc:
        config.syntax_error = f"read {path}: {exc}"
        return config
    return parse_sidecar(text, path)


def parse_sidecar(text: str, source: str = "<ingress.json>") -> SidecarConfig:
    """Check ``text`` (see the module docstring)."""
    config = SidecarConfig(source)
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        config.syntax_error = f"'{source}': {exc.msg} (line {exc.lineno}, column {exc.colno})"
        return config
    config.positions = locate_values(text)
    if not isinstance(raw, dict):
        config.errors.append(Finding((), "want a JSON object {listen, health_path, routes}"))
        return config
    _Reader(config).read(raw)
    return config


class _Reader:
    def __init__(self, config: SidecarConfig) -> None:
        self.config = config

    def error(self, path: JsonPath, message: str) -> None:
        self.config.errors.append(Finding(path, message))

    def warn(self, path: JsonPath, message: str) -> None:
        self.config.warnings.append(Finding(path, message))

    def unknown(self, raw: dict[str, Any], known: tuple[str, ...], path: JsonPath) -> None:
        for key in raw:
            if key not in known:
                self.warn((*path, key), f"unknown key {key!r} ignored (known: {', '.join(known)})")

    def string(self, raw: dict[str, Any], key: str, path: JsonPath, default: str) -> str:
        value = raw.get(key, default)
        if value is None:
            return default
        if not isinstance(value, str):
            self.error((*path, key), f"want a string, got {json.dumps(value)}")
            return default
        return value

    def read(self, raw: dict[str, Any]) -> None:
        config = self.config
        self.unknown(raw, ("listen", "health_path", "routes"), ())
        config.listen = self.string(raw, "listen", (), DEFAULT_LISTEN) or DEFAULT_LISTEN
        self.check_listen(config.listen)
        config.health_path = self.string(raw, "health_path", (), DEFAULT_HEALTH_PATH) or DEFAULT_HEALTH_PATH
        if not config.health_path.startswith("/"):
            self.error(("health_path",), f"want a path starting with '/', got {config.health_path!r}")
        routes = raw.get("routes")
        if routes is None:
            self.warn(("routes",), "no routes: every request but the health check gets 404")
            return
        if not isinstance(routes, list):
            self.error(("routes",), "want a list of {host, auth?, backends}")
            return
        first_of: dict[str, int] = {}
        for index, entry in enumerate(routes):
            host = self.route(entry, ("routes", index))
            if host is None:
                continue
            earlier = first_of.get(host.host)
            if earlier is not None:
                self.warn(
                    ("routes", index, "host"),
                    f"host {host.host!r} is also routes[{earlier}]: this later entry replaces it (as Hanzo's "
                    f"sidecar map does), so routes[{earlier}] is never used",
                )
            first_of[host.host] = index
            config.hosts[host.host] = host

    def check_listen(self, listen: str) -> None:
        host, sep, port = listen.rpartition(":")
        if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
            self.error(("listen",), f"want host:port or :port, got {listen!r}")
        elif host.startswith("[") != host.endswith("]"):
            self.error(("listen",), f"bad IPv6 brackets in {listen!r}")

    def route(self, entry: Any, path: JsonPath) -> SidecarHost | None:
        if not isinstance(entry, dict):
            self.error(path, "want an object {host, auth?, backends}")
            return None
        self.unknown(entry, ("host", "auth", "backends"), path)
        host = entry.get("host")
        if not isinstance(host, str) or not host.strip():
            self.error((*path, "host"), "want a non-empty host name")
            return None
        name = host.strip().lower().split(":", 1)[0]
        auth = entry.get("auth", False)
        if auth is None:
            auth = False
        if not isinstance(auth, bool):
            self.error((*path, "auth"), f"want true or false, got {json.dumps(auth)}")
            auth = False
        backends = entry.get("backends")
        if not isinstance(backends, list) or not backends:
            self.error((*path, "backends"), "want a non-empty list of {path, url}")
            return None
        parsed: list[tuple[str, str]] = []
        seen: dict[str, int] = {}
        for index, backend in enumerate(backends):
            where = (*path, "backends", index)
            item = self.backend(backend, where)
            if item is None:
                continue
            prefix = item[0]
            if prefix in seen:
                self.warn(
                    (*where, "path"),
                    f"path {prefix!r} repeats backends[{seen[prefix]}]: the first listed wins, this one is never used",
                )
            else:
                seen[prefix] = index
            parsed.append(item)
        if not parsed:
            return None
        return SidecarHost(name, auth, tuple(parsed), path[-1] if isinstance(path[-1], int) else 0)

    def backend(self, raw: Any, path: JsonPath) -> tuple[str, str] | None:
        if not isinstance(raw, dict):
            self.error(path, "want an object {path, url}")
            return None
        self.unknown(raw, ("path", "url"), path)
        prefix = raw.get("path", "/")
        if prefix is None or prefix == "":
            prefix = "/"
        if not isinstance(prefix, str) or not prefix.startswith("/"):
            self.error((*path, "path"), f"want a path starting with '/', got {json.dumps(prefix)}")
            return None
        if _REGEX_SIGNS.search(prefix):
            self.warn(
                (*path, "path"),
                f"path {prefix!r} is an nginx-style regular expression; the sidecar compares plain prefixes, so "
                "it matches only paths starting with these very characters (in practice never)",
            )
        url = raw.get("url")
        if not isinstance(url, str) or not url.strip():
            self.error((*path, "url"), "want a backend URL")
            return None
        url = url.strip()
        if not url.lower().startswith(("http://", "https://")):
            self.error((*path, "url"), f"{url!r} is not an http:// or https:// URL")
            return None
        try:
            split_server_url(url)
        except ValueError as exc:
            self.error((*path, "url"), str(exc))
            return None
        return prefix, url
