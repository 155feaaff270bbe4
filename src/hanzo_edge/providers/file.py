"""The file provider: dynamic configuration from one YAML/TOML file or a directory of them.

Behaviour follows Traefik's `pkg/provider/file`:

* A directory is read recursively, entries in name order; only ``.yml``, ``.yaml`` and ``.toml`` files are read.
  Hidden entries (names starting with ``.``) are skipped, which also skips Kubernetes ConfigMap internals
  (``..data``, ``..2024_...``); the top-level symlinks of a ConfigMap mount are followed.
* An object (router, service, middleware, servers transport; TCP/UDP too) defined in two files keeps the
  **first** definition; the later one is ignored with a warning (Traefik logs "already configured, skipping").
* One unreadable or invalid file fails the whole load (Traefik returns the error for the directory), so the
  watcher keeps the last good snapshot.
* Not supported: Go templating of the files (Traefik renders them with sprig first).

Watching polls the files (and the directories that contain them, so a ConfigMap's atomic symlink swap is seen)
every `poll_interval` seconds, reloads on any change of mtime/size/inode, drops snapshots equal to the previous
one, and on a parse error logs it with ``file:line`` and keeps serving the last good snapshot.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import msgspec

from hanzo_edge.config.documents import DOCUMENT_SUFFIXES, read_document
from hanzo_edge.config.dynamic import Configuration, HTTPConfiguration, decode_dynamic
from hanzo_edge.config.errors import ConfigError, ConfigWarning
from hanzo_edge.config.tcp import TCPConfiguration, UDPConfiguration
from hanzo_edge.config.tls import CertAndStores, TLSConfiguration
from hanzo_edge.config.types import FrozenDict

__all__ = ["FileProvider", "load_file_snapshot"]

logger = logging.getLogger("hanzo_edge.providers.file")

_S = TypeVar("_S", bound=msgspec.Struct)

Fingerprint = tuple[tuple[str, int, int, int], ...]


def _list_files(directory: str) -> list[str]:
    """Return the configuration files under `directory`, recursively, in Traefik's order (by name, depth-first)."""
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError as exc:
        raise ConfigError("", f"cannot read directory: {exc.strerror or exc}", location=directory) from None
    files: list[str] = []
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_dir(follow_symlinks=False):
            files.extend(_list_files(entry.path))
        elif entry.name.lower().endswith(DOCUMENT_SUFFIXES) and entry.is_file():
            files.append(entry.path)
    return files


def _load_one(filename: str) -> tuple[Configuration, list[ConfigWarning]]:
    document = read_document(filename)
    return decode_dynamic(document.data, source=filename, locate=document.locate)


def load_file_snapshot(filename: str = "", directory: str = "") -> tuple[Configuration, list[ConfigWarning]]:
    """Return the `Configuration` read from `filename` or from every config file of `directory`, and its warnings.

    Raises:
        ConfigError: neither or both of `filename`/`directory` given, or a file cannot be read or decoded;
            ``str()`` names the file and, for YAML, the line (``dynamic.yml:12: http.routers.r1.rule: ...``).
    """
    if bool(filename) == bool(directory):
        raise ConfigError("providers.file", "exactly one of filename or directory must be set")
    if filename:
        return _load_one(filename)
    merged = _Merger()
    for path in _list_files(directory):
        config, warnings = _load_one(path)
        merged.warnings.extend(warnings)
        merged.add(config, path)
    return merged.result(), merged.warnings


class _Merger:
    """Merge per-file configurations, first definition wins (Traefik `loadFileConfigFromDirectory`)."""

    def __init__(self) -> None:
        self.named: dict[tuple[str, str], dict[str, Any]] = {}
        self.origin: dict[tuple[str, str, str], str] = {}
        self.present: set[str] = set()
        self.certificates: list[CertAndStores] = []
        self.warnings: list[ConfigWarning] = []

    def add(self, config: Configuration, path: str) -> None:
        for top in ("http", "tcp", "udp", "tls"):
            section = getattr(config, top)
            if section is None:
                continue
            self.present.add(top)
            if isinstance(section, TLSConfiguration):
                self.certificates.extend(c for c in section.certificates if c not in self.certificates)
            for field in msgspec.structs.fields(section):
                values = getattr(section, field.name)
                if not isinstance(values, FrozenDict):
                    continue
                target = self.named.setdefault((top, field.name), {})
                for name, value in values.items():
                    key = (top, field.name, name)
                    if name in target:
                        self.warnings.append(
                            ConfigWarning(
                                f"{top}.{field.encode_name}.{name}",
                                f"already defined in {self.origin[key]}; this definition is ignored",
                                path,
                            )
                        )
                        continue
                    target[name] = value
                    self.origin[key] = path

    def _section(self, top: str, cls: type[_S]) -> _S:
        values: dict[str, FrozenDict[str, Any]] = {
            attr: FrozenDict(items) for (section, attr), items in self.named.items() if section == top
        }
        return cls(**values)

    def result(self) -> Configuration:
        tls = None
        if "tls" in self.present:
            tls = msgspec.structs.replace(self._section("tls", TLSConfiguration), certificates=tuple(self.certificates))
        return Configuration(
            http=self._section("http", HTTPConfiguration),
            tcp=self._section("tcp", TCPConfiguration) if "tcp" in self.present else None,
            udp=self._section("udp", UDPConfiguration) if "udp" in self.present else None,
            tls=tls,
        )


class FileProvider:
    """A `Provider` for `providers.file`: yields the snapshot of `filename` or `directory`, then its changes.

    Args:
        filename / directory: exactly one must be set.
        watch: poll for changes; when False the iterator yields once and then waits until cancelled.
        poll_interval: seconds between two polls (tests use a small value).
    """

    name = "file"

    def __init__(
        self,
        filename: str = "",
        directory: str = "",
        watch: bool = True,
        *,
        poll_interval: float = 0.5,
        loader: Callable[[str, str], tuple[Configuration, list[ConfigWarning]]] = load_file_snapshot,
    ) -> None:
        self.filename = filename
        self.directory = directory
        self.watch_changes = watch
        self.poll_interval = poll_interval
        self._loader = loader

    def __repr__(self) -> str:
        """Return ``<FileProvider filename=... directory=... watch=...>``."""
        return f"<FileProvider filename={self.filename!r} directory={self.directory!r} watch={self.watch_changes}>"

    def _load(self) -> tuple[Configuration, list[ConfigWarning]]:
        return self._loader(self.filename, self.directory)

    def fingerprint(self) -> Fingerprint:
        """Return the stat fingerprint of everything the snapshot depends on (files and their directories)."""
        paths: list[str] = []
        if self.filename:
            paths.append(self.filename)
            paths.append(os.path.dirname(os.path.abspath(self.filename)))
        else:
            paths.append(self.directory)
            for root, dirs, files in os.walk(self.directory):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                paths.append(root)
                paths.extend(os.path.join(root, f) for f in sorted(files) if not f.startswith("."))
        out: list[tuple[str, int, int, int]] = []
        for path in paths:
            try:
                st = os.stat(path)
            except OSError:
                out.append((path, -1, -1, -1))
                continue
            out.append((path, st.st_mtime_ns, st.st_size, st.st_ino))
        return tuple(out)

    async def watch(self) -> AsyncIterator[Configuration]:
        """Yield the initial snapshot, then every changed snapshot (see the module docstring).

        Raises:
            ConfigError: the initial load fails (later failures are logged and the last good snapshot is kept).
        """
        stamp = self.fingerprint()
        config, warnings = await asyncio.to_thread(self._load)
        _log_warnings(warnings)
        yield config
        if not self.watch_changes:
            await asyncio.Event().wait()
        last = config
        while True:
            await asyncio.sleep(self.poll_interval)
            current = self.fingerprint()
            if current == stamp:
                continue
            stamp = current
            try:
                config, warnings = await asyncio.to_thread(self._load)
            except ConfigError as exc:
                logger.error("file provider: %s (keeping the last good configuration)", exc)
                continue
            _log_warnings(warnings)
            if config == last:
                continue
            last = config
            yield config


def _log_warnings(warnings: list[ConfigWarning]) -> None:
    for warning in warnings:
        logger.warning("file provider: %s", warning)
