"""The file provider: dynamic configuration from one YAML/TOML file or a directory of them.

Behaviour follows Traefik's `pkg/provider/file`:

* A directory is read recursively, entries in name order; only ``.yml``, ``.yaml`` and ``.toml`` files are read.
  Hidden entries (names starting with ``.``) are skipped, which also skips Kubernetes ConfigMap internals
  (``..data``, ``..2024_...``); the top-level symlinks of a ConfigMap mount are followed.
* An object (router, service, middleware, servers transport; TCP/UDP too) defined in two files keeps the
  **first** definition; the later one is ignored with a warning (Traefik logs "already configured, skipping").
* :func:`load_file_snapshot` fails on one unreadable or invalid file (Traefik returns the error for the directory);
  :func:`read_snapshot` instead leaves that file out and returns its error with the snapshot of the others.
* Every file is rendered as a Go template first, as Traefik does (:mod:`hanzo_edge.config.gotemplate`; a file
  without ``{{`` is not parsed as one).

Watching polls the files (and the directories that contain them, so a ConfigMap's atomic symlink swap is seen)
every `poll_interval` seconds, reloads on any change of mtime/size/inode and drops snapshots equal to the previous
one. A load that fails is logged with ``file:line`` and reported to ``on_failure`` (the reload-failure metrics):

* once a complete snapshot was yielded, a failing load keeps it: the last good configuration keeps serving;
* until then (a file was already bad at startup), there is nothing good to keep, so the snapshot of the files that
  do load is yielded: the good files of a directory are served, and a single bad ``filename`` serves nothing while
  the process runs and keeps watching (Traefik logs "Error while building configuration (for the first time)"
  and keeps watching too). The first complete load ends this mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, NamedTuple, TypeVar

import msgspec

from hanzo_edge.config.documents import DOCUMENT_SUFFIXES, read_document, shed_data
from hanzo_edge.config.dynamic import Configuration, HTTPConfiguration, decode_dynamic
from hanzo_edge.config.errors import ConfigError, ConfigWarning
from hanzo_edge.config.gotemplate import read_template_file
from hanzo_edge.config.static import StaticConfig
from hanzo_edge.config.tcp import TCPConfiguration, UDPConfiguration
from hanzo_edge.config.tls import CertAndStores, TLSConfiguration
from hanzo_edge.config.types import FrozenDict
from hanzo_edge.providers.base import ProviderHooks

__all__ = ["FileProvider", "FileSnapshot", "from_static", "load_file_snapshot", "read_snapshot"]

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


LOAD_SWITCH_INTERVAL = 0.0001
"""The interpreter's thread switch interval while a load runs in a thread (default 5 ms). The event loop waits up to
one interval for the GIL each time it takes it back (after every system call, at every libuv callback): a
10,000-router load held requests up 10-30 ms at 5 ms, 6 ms at 1 ms; at 0.1 ms the per-reload p99 of back-to-back
requests is 1.0-1.2 ms instead of 2.4-3.4 ms and the loop's longest stall 5.4 ms instead of 6.6-8.6
(benchmarks/reload_stall.py, alternating runs; the load's own time under more switches was not measured)."""

_handoff_lock = threading.Lock()
_handoff_users = 0
_handoff_saved = 0.005


@contextlib.contextmanager
def _quick_gil_handoff() -> Iterator[None]:
    """Lower the switch interval while at least one load runs (loads of several providers may overlap)."""
    global _handoff_users, _handoff_saved  # one process-wide setting, counted
    with _handoff_lock:
        if _handoff_users == 0:
            _handoff_saved = sys.getswitchinterval()
            sys.setswitchinterval(min(_handoff_saved, LOAD_SWITCH_INTERVAL))
        _handoff_users += 1
    try:
        yield
    finally:
        with _handoff_lock:
            _handoff_users -= 1
            if _handoff_users == 0:
                sys.setswitchinterval(_handoff_saved)


def _load_one(filename: str) -> tuple[Configuration, list[ConfigWarning]]:
    document = read_document(filename, reader=read_template_file)
    decoded = decode_dynamic(document.data, source=filename, locate=document.locate)
    # The parsed document (10,000 routers: ~60,000 dicts, lists and strings) is freed piece by piece: freed at once it
    # is one deallocation cascade that holds the GIL ~10 ms against the event loop. Not mutated: the decoded
    # configuration may share parts of it.
    parsed: list[object] = [document.data]
    document.data = None
    shed_data(parsed)
    return decoded


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


class FileSnapshot(NamedTuple):
    """What :func:`read_snapshot` read: the configuration of every file that loads, its warnings, and one error per
    file left out (or for the whole provider when the directory or the single file cannot be read)."""

    config: Configuration
    warnings: list[ConfigWarning]
    errors: list[ConfigError]


def read_snapshot(filename: str = "", directory: str = "") -> FileSnapshot:
    """Return the snapshot of `filename` or of the files of `directory` that load, leaving out the ones that do not.

    Raises:
        ConfigError: neither or both of `filename`/`directory` given (a static configuration error).
    """
    if bool(filename) == bool(directory):
        raise ConfigError("providers.file", "exactly one of filename or directory must be set")
    merged = _Merger()
    errors: list[ConfigError] = []
    try:
        paths = [filename] if filename else _list_files(directory)
    except ConfigError as exc:
        return FileSnapshot(merged.result(), [], [exc])
    for path in paths:
        try:
            config, warnings = _load_one(path)
        except ConfigError as exc:
            errors.append(exc)
            continue
        merged.warnings.extend(warnings)
        merged.add(config, path)
    return FileSnapshot(merged.result(), merged.warnings, errors)


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
        on_failure: called once for every load that fails (at startup too), after its errors are logged.
    """

    name = "file"

    def __init__(
        self,
        filename: str = "",
        directory: str = "",
        watch: bool = True,
        *,
        poll_interval: float = 0.5,
        loader: Callable[[str, str], FileSnapshot] = read_snapshot,
        on_failure: Callable[[], None] | None = None,
    ) -> None:
        self.filename = filename
        self.directory = directory
        self.watch_changes = watch
        self.poll_interval = poll_interval
        self._loader = loader
        self._on_failure = on_failure

    def __repr__(self) -> str:
        """Return ``<FileProvider filename=... directory=... watch=...>``."""
        return f"<FileProvider filename={self.filename!r} directory={self.directory!r} watch={self.watch_changes}>"

    def _load(self) -> FileSnapshot:
        # The collector is paused for the load: a pass in this thread over the ~100,000 objects being parsed holds the
        # GIL 15-30 ms against the event loop (a snapshot is a tree: there is no garbage to find). The snapshot is then
        # frozen here, before the loop's next collection would examine it (the policy of routing/heap.py's
        # FrozenHeap.freeze_arrival; providers may not import routing).
        enabled = gc.isenabled()
        gc.disable()
        try:
            with _quick_gil_handoff():
                return self._loader(self.filename, self.directory)
        finally:
            gc.freeze()
            if enabled:
                gc.enable()

    def _failed(self, errors: list[ConfigError], outcome: str) -> None:
        for exc in errors:
            logger.error("file provider: %s (%s)", exc, outcome)
        if self._on_failure is not None:
            self._on_failure()

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
            ConfigError: neither or both of filename and directory are set. A file that does not load never raises.
        """
        stamp = self.fingerprint()
        snapshot = await asyncio.to_thread(self._load)
        _log_warnings(snapshot.warnings)
        complete = not snapshot.errors
        if not complete:
            self._failed(snapshot.errors, self._left_out())
        yield snapshot.config
        if not self.watch_changes:
            await asyncio.Event().wait()
        last = snapshot.config
        while True:
            await asyncio.sleep(self.poll_interval)
            current = self.fingerprint()
            if current == stamp:
                continue
            stamp = current
            snapshot = await asyncio.to_thread(self._load)
            if snapshot.errors and complete:
                self._failed(snapshot.errors, "keeping the last good configuration")
                continue
            _log_warnings(snapshot.warnings)
            if snapshot.errors:
                self._failed(snapshot.errors, self._left_out())
            complete = not snapshot.errors
            # One == (providers may not import routing's sliced comparison; the app compares again in slices only
            # what this lets through): an equal 10,000-router snapshot holds the loop 2-3.5 ms here.
            if snapshot.config == last:
                continue
            last = snapshot.config
            yield snapshot.config

    def _left_out(self) -> str:
        if self.filename:
            return "nothing is served from the file provider until it loads"
        return "left out until it loads; the files that load are served"


def from_static(static: StaticConfig, hooks: ProviderHooks) -> FileProvider | None:
    """Return the file provider ``providers.file`` asks for, or None when it names neither a file nor a directory.

    Both set is refused by the provider itself when it starts (a ConfigError, as Traefik refuses it).
    """
    config = static.providers.file
    if config is None or not (config.filename or config.directory):
        return None
    # Polling stat() every 0.2 s is cheap and keeps a reload well under a second end to end.
    return FileProvider(config.filename, config.directory, config.watch, poll_interval=0.2, on_failure=hooks.on_failure)


def _log_warnings(warnings: list[ConfigWarning]) -> None:
    for warning in warnings:
        logger.warning("file provider: %s", warning)
