"""Access log: one line per finished request, in Traefik's ``json``, ``common`` or ``genericCLF`` format.

:meth:`AccessLog.observer` is the data-plane hook (``observer(req, status, response_bytes, duration, aborted)``). It
filters the request like Traefik's ``keepAccessLog`` (status ranges OR retried OR slower than ``minDuration``),
renders one line and appends it to an in-memory batch. Nothing touches the disk on the event loop:

* ``bufferingSize`` 0: the batch is handed over at the end of the current event-loop iteration (``loop.call_soon``),
  so a burst of requests finishing together costs one write;
* ``bufferingSize`` N: the batch is handed over once N lines are pending, or :data:`FLUSH_INTERVAL` seconds after its
  first line, whichever comes first (Traefik keeps at most N lines in memory; it has no time bound because its
  writer goroutine drains continuously).

Batches go through a queue to one writer thread that owns the file (``O_APPEND``, created ``0664`` with its parent
directories, like Traefik). :meth:`AccessLog.reopen` (SIGUSR1, logrotate) is queued too, so the lines rendered before
it land in the old file and the later ones in the new file.

JSON lines carry Traefik's keys (``logdata.go``) in Go's sorted order, durations as integer nanoseconds, ports as
strings, plus logrus' ``level``/``msg``/``time``. What this runtime can and cannot know:

* ``RequestPath`` is the request-target as received (before path-rewriting middlewares), as Traefik records it.
* ``OriginStatus``/``OriginContentSize``/``OriginDuration`` describe the backend answer when one answered
  (``req.server_url`` set): the status, the response bytes, and the time from the proxy's (last) call to the backend
  server until the response was complete; ``Overhead`` is the rest (routing and middlewares). When Traefik-side code
  answered they are 0 and ``Overhead`` = ``Duration`` (Traefik leaves them out).
* ``TraceId``/``SpanId`` (the entrypoint span) are present when tracing is on.
* ``ServiceName`` is the matched router's service; ``ServiceURL``/``ServiceAddr`` the backend server that answered.
* ``GzipRatio``, ``TLSVersion``/``TLSCipher``/``TLSClientSubject`` and ``origin_``/``downstream_``
  header fields are not emitted (the hook does not carry them). Go's HTML escaping of ``<>&`` (``\\u003c``) is not
  reproduced: the JSON values are the same.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any, Final
from urllib.parse import unquote_plus

import orjson

from hanzo_edge.http.body import StreamBody

if TYPE_CHECKING:
    from hanzo_edge.config.static import AccessLog as AccessLogConfig
    from hanzo_edge.http.messages import Request

__all__ = ["CORE_FIELDS", "FLUSH_INTERVAL", "AccessLog", "canonical_header_key", "parse_status_ranges"]

log = logging.getLogger(__name__)

FLUSH_INTERVAL: Final = 1.0
"""With ``bufferingSize`` > 0, the longest time (seconds) a line waits in memory before it is handed to the writer."""

#: The core fields emitted in JSON lines, in Go's (byte-wise sorted) key order. ``fields.names`` applies to them.
CORE_FIELDS: Final = (
    "ClientAddr",
    "ClientHost",
    "ClientPort",
    "ClientUsername",
    "DownstreamContentSize",
    "DownstreamStatus",
    "Duration",
    "OriginContentSize",
    "OriginDuration",
    "OriginStatus",
    "Overhead",
    "RequestAddr",
    "RequestContentSize",
    "RequestCount",
    "RequestHost",
    "RequestMethod",
    "RequestPath",
    "RequestPort",
    "RequestProtocol",
    "RequestScheme",
    "RetryAttempts",
    "RouterName",
    "ServiceAddr",
    "ServiceName",
    "ServiceURL",
    "StartLocal",
    "StartUTC",
    "entryPointName",
)

_DROP, _KEEP, _REDACT = 0, 1, 2
_MODES = {"drop": _DROP, "keep": _KEEP, "redact": _REDACT}
_REDACTED = "REDACTED"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_PROTOCOLS = {"1.1": "HTTP/1.1", "1.0": "HTTP/1.0", "0.9": "HTTP/0.9", "2": "HTTP/2.0", "2.0": "HTTP/2.0"}
_NS: Final = 1_000_000_000
_CACHE_LIMIT: Final = 4096
_TOKEN = frozenset(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


# -------------------------------------------------------------------------------------------------------- helpers


def canonical_header_key(name: str) -> str:
    """Return Go's ``textproto.CanonicalMIMEHeaderKey(name)``: ``user-agent`` -> ``User-Agent``.

    Like Go, a name holding a byte that is not a token character is returned unchanged.
    """
    raw = name.encode("latin-1", "replace")
    if not raw or any(b not in _TOKEN for b in raw):
        return name
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def parse_status_ranges(blocks: tuple[str, ...] | list[str]) -> list[tuple[int, int]]:
    """Parse Traefik's ``filters.statusCodes`` (``["200", "300-302", "500-504,404"]``) into inclusive ranges.

    Raises ``ValueError`` on a malformed block, like ``types.NewHTTPCodeRanges``.
    """
    ranges: list[tuple[int, int]] = []
    for block in blocks:
        for part in block.split(","):
            bounds = part.split("-")
            if len(bounds) == 1:
                code = int(bounds[0])
                ranges.append((code, code))
            elif len(bounds) == 2:
                ranges.append((int(bounds[0]), int(bounds[1])))
            else:
                raise ValueError(f"invalid status code range {part!r}")
    return ranges


_HOST_PORTS: dict[str, tuple[str, str]] = {}
_SERVICE_ADDRS: dict[str, str] = {}


def _split_host_port(value: str) -> tuple[str, str]:
    """Go's ``net.SplitHostPort``, falling back to ``(value, "-")`` like Traefik's ``silentSplitHostPort``."""
    parts = _HOST_PORTS.get(value)
    if parts is None:
        parts = _do_split_host_port(value)
        _remember(_HOST_PORTS, value, parts, _CACHE_LIMIT)
    return parts


def _do_split_host_port(value: str) -> tuple[str, str]:
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


def _service_addr(url: str) -> str:
    """``url.Host`` of a backend URL: ``http://10.0.0.2:80/x`` -> ``10.0.0.2:80``."""
    addr = _SERVICE_ADDRS.get(url)
    if addr is None:
        addr = _do_service_addr(url)
        _remember(_SERVICE_ADDRS, url, addr, _CACHE_LIMIT)
    return addr


def _do_service_addr(url: str) -> str:
    rest = url.partition("://")[2] or url
    for sep in "/?#":
        rest = rest.partition(sep)[0]
    return rest.rpartition("@")[2]


def _target_path(target: str) -> str:
    # The request-target without scheme and authority (absolute-form targets keep only path?query).
    if target[:1] == "/" or target == "*":
        return target
    _, sep, rest = target.partition("://")
    if not sep:
        return target
    cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    return rest[cut:]


def _utc_offsets(seconds: int) -> tuple[str, str]:
    # The local UTC offset at `seconds`, as RFC 3339 ("Z", "+02:00") and as CLF ("+0200").
    offset = time.localtime(seconds).tm_gmtoff
    sign = "-" if offset < 0 else "+"
    hours, minutes = divmod(abs(offset) // 60, 60)
    rfc = "Z" if offset == 0 else f"{sign}{hours:02d}:{minutes:02d}"
    return rfc, f"{sign}{hours:02d}{minutes:02d}"


class _Seconds:
    """Small per-second caches of the formatted parts of timestamps (start and log times share them)."""

    __slots__ = ("_clf_local", "_clf_utc", "_local", "_utc")

    def __init__(self) -> None:
        self._utc: dict[int, str] = {}
        self._local: dict[int, tuple[str, str]] = {}
        self._clf_utc: dict[int, str] = {}
        self._clf_local: dict[int, str] = {}

    def utc(self, seconds: int) -> str:
        """``2006-01-02T15:04:05`` in UTC."""
        cache = self._utc
        text = cache.get(seconds)
        if text is None:
            text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
            _remember(cache, seconds, text)
        return text

    def local(self, seconds: int) -> tuple[str, str]:
        """``(2006-01-02T15:04:05, offset)`` in local time, the offset as RFC 3339 (``Z`` when zero)."""
        cache = self._local
        parts = cache.get(seconds)
        if parts is None:
            parts = (time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(seconds)), _utc_offsets(seconds)[0])
            _remember(cache, seconds, parts)
        return parts

    def clf(self, seconds: int, utc: bool) -> str:
        """``10/Nov/2009:23:00:00 +0000`` (Go's ``02/Jan/2006:15:04:05 -0700``) in UTC or local time."""
        cache = self._clf_utc if utc else self._clf_local
        text = cache.get(seconds)
        if text is None:
            tm = time.gmtime(seconds) if utc else time.localtime(seconds)
            zone = "+0000" if utc else _utc_offsets(seconds)[1]
            text = f"{tm.tm_mday:02d}/{_MONTHS[tm.tm_mon - 1]}/{tm.tm_year}:{time.strftime('%H:%M:%S', tm)} {zone}"
            _remember(cache, seconds, text)
        return text


def _remember(cache: dict[Any, Any], key: Any, value: Any, limit: int = 8) -> None:
    # A bounded memo: cleared when full (the keys in use at any moment are few).
    if len(cache) >= limit:
        cache.clear()
    cache[key] = value


def _fraction(nanos: int) -> str:
    # Go's RFC3339Nano fraction: ".123456789" with trailing zeros removed, nothing when zero.
    return f".{nanos:09d}".rstrip("0") if nanos else ""


# ---------------------------------------------------------------------------------------------------- the writer

_Item = Any  # a batch (bytearray) or a (command, future) pair
_REOPEN = "reopen"
_BARRIER = "barrier"
_STOP = "stop"


def _open_file(path: str) -> int:
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, mode=0o755, exist_ok=True)
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0), 0o664)


class _Writer:
    """One background thread that owns the output and writes the batches it is handed, in order."""

    def __init__(self, path: str, stream: IO[bytes] | None) -> None:
        self.path = path
        self._stream = stream
        self._fd = _open_file(path) if path and stream is None else -1
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _ensure_thread(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    thread = threading.Thread(target=self._run, name="hanzo-edge-accesslog", daemon=True)
                    thread.start()
                    self._thread = thread

    def submit(self, batch: bytearray) -> None:
        """Queue one batch of lines (never blocks); the writer owns ``batch`` from now on."""
        self._ensure_thread()
        self._queue.put(batch)

    def command(self, name: str) -> concurrent.futures.Future[None]:
        """Queue a command behind the batches already queued; the future resolves once the thread has run it."""
        future: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._ensure_thread()
        self._queue.put((name, future))
        return future

    def stopped(self) -> bool:
        """True when the thread never started (nothing to stop)."""
        return self._thread is None

    def close_output(self) -> None:
        """Close the file (stdout or an injected stream are left open)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    # -- writer thread ---------------------------------------------------------------------------------------------
    def _run(self) -> None:
        get = self._queue.get
        while True:
            item = get()
            if isinstance(item, bytearray):
                chunks = [item]
                # Coalesce the batches that queued up meanwhile: one write for all of them.
                while True:
                    try:
                        nxt = self._queue.get_nowait()
                    except queue.Empty:
                        nxt = None
                        break
                    if not isinstance(nxt, bytearray):
                        break
                    chunks.append(nxt)
                self._write(b"".join(chunks) if len(chunks) > 1 else chunks[0])
                if nxt is None:
                    continue
                item = nxt
            name, future = item
            running = future.set_running_or_notify_cancel()  # False when the waiter gave up: still run it
            try:
                if name == _REOPEN:
                    self._reopen()
                elif name == _STOP:
                    self.close_output()
            except Exception as exc:
                log.error("access log %s failed: %s", name, exc)
            if running:
                future.set_result(None)
            if name == _STOP:
                return

    def _write(self, data: bytes | bytearray) -> None:
        try:
            if self._stream is not None or not self.path:
                stream = self._stream if self._stream is not None else sys.stdout.buffer
                stream.write(data)
                stream.flush()
                return
            if self._fd < 0:
                return
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
        except Exception as exc:
            log.error("cannot write the access log: %s", exc)

    def _reopen(self) -> None:
        if not self.path or self._stream is not None:
            return
        fd = _open_file(self.path)  # open first: on failure keep writing to the old file
        old, self._fd = self._fd, fd
        if old >= 0:
            os.close(old)


# ------------------------------------------------------------------------------------------------------ the log


class AccessLog:
    """Traefik's access log: build with :meth:`from_config`, hook :meth:`observer` into every entrypoint.

    ``observer`` must be called on the event loop thread; ``reopen``, ``flush`` and ``aclose`` too.
    """

    def __init__(
        self,
        *,
        format: str = "common",
        file_path: str = "",
        stream: IO[bytes] | None = None,
        buffering_size: int = 0,
        add_internals: bool = False,
        status_codes: tuple[str, ...] = (),
        retry_attempts: bool = False,
        min_duration: float = 0.0,
        fields_default: str = "keep",
        fields_names: dict[str, str] | None = None,
        headers_default: str = "drop",
        headers_names: dict[str, str] | None = None,
        query_default: str = "keep",
        query_names: dict[str, str] | None = None,
        wall_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        """Open the output (``file_path``, else ``stream``, else stdout); the writer thread starts on first use."""
        self._writer = _Writer(file_path, stream)
        self._json = format == "json"
        self._generic = format == "genericCLF"
        if format not in ("json", "common", "genericCLF"):
            log.error("unsupported access log format %r, defaulting to common format instead", format)
        self._buffering = max(0, buffering_size)
        self._add_internals = add_internals
        self._wall_ns = wall_ns
        self._seconds = _Seconds()
        self._pending = bytearray()  # rendered lines not yet handed to the writer
        self._pending_lines = 0
        self._scheduled = False
        self._closed = False
        self.request_count = 0
        """Requests observed since start (Traefik's ``RequestCount``)."""

        # filters (keepAccessLog)
        try:
            ranges = parse_status_ranges(status_codes)
        except ValueError as exc:
            log.error("failed to create new HTTP code ranges: %s", exc)
            ranges = []
        table = bytearray(1000)
        for low, high in ranges:
            for code in range(max(low, 0), min(high, 999) + 1):
                table[code] = 1
        self._status_table = bytes(table)
        self._status_ranges = tuple(ranges)
        self._filter_retry = retry_attempts
        self._min_duration = min_duration
        self._filtered = bool(ranges) or retry_attempts or min_duration > 0

        # fields: Traefik matches field names case-insensitively; unknown modes fall back to the default.
        default_keep = fields_default != "drop"
        names = {k.lower(): v for k, v in (fields_names or {}).items()}

        def keep(field: str) -> bool:
            mode = names.get(field.lower())
            return default_keep if mode not in ("keep", "drop") else mode == "keep"

        kept = frozenset(f for f in CORE_FIELDS if keep(f))
        self.kept_fields = kept
        """The core fields this log emits."""
        self._keep = tuple(f in kept for f in CORE_FIELDS)
        self._all_kept = len(kept) == len(CORE_FIELDS)
        # Present only when tracing is on (Traefik's TraceId/SpanId); fields.names applies to them too.
        self._trace_fields = keep("TraceId"), keep("SpanId")

        # headers: canonical names, like Traefik
        self._hdr_default = _MODES.get(headers_default, _KEEP)
        self._hdr_names = {
            canonical_header_key(k): _MODES.get(v, self._hdr_default) for k, v in (headers_names or {}).items()
        }
        self._hdr_any = self._hdr_default != _DROP or any(m != _DROP for m in self._hdr_names.values())
        self._hdr_cache: dict[bytes, tuple[str, int]] = {}
        self._referer_mode = self._hdr_names.get("Referer", self._hdr_default)
        self._ua_mode = self._hdr_names.get("User-Agent", self._hdr_default)

        # query parameters in RequestPath
        self._query_default = _MODES.get(query_default, _KEEP)
        self._query_names = {k: _MODES.get(v, self._query_default) for k, v in (query_names or {}).items()}
        self._query_plain = self._query_default == _KEEP and all(m == _KEEP for m in self._query_names.values())

    @classmethod
    def from_config(
        cls,
        config: AccessLogConfig,
        *,
        stream: IO[bytes] | None = None,
        wall_ns: Callable[[], int] = time.time_ns,
    ) -> AccessLog:
        """Build from the static ``accessLog`` section; raises ``OSError`` when the file cannot be opened."""
        fields = config.fields
        return cls(
            format=config.format,
            file_path=config.file_path,
            stream=stream,
            buffering_size=config.buffering_size,
            add_internals=config.add_internals,
            status_codes=tuple(config.filters.status_codes),
            retry_attempts=config.filters.retry_attempts,
            min_duration=config.filters.min_duration,
            fields_default=fields.default_mode,
            fields_names=dict(fields.names),
            headers_default=fields.headers.default_mode,
            headers_names=dict(fields.headers.names),
            query_default=fields.query_parameters.default_mode,
            query_names=dict(fields.query_parameters.names),
            wall_ns=wall_ns,
        )

    # -- the hook ----------------------------------------------------------------------------------------------------
    def observer(self, req: Request, status: int, response_bytes: int, duration: float, aborted: bool) -> None:
        """Log one finished request (``RequestObserver``); ``aborted`` requests are logged with their status."""
        if self._closed:
            return
        route = req.route
        if route is not None and not self._add_internals:
            service = route.service
            if service.endswith("@internal") or (not service and route.name.endswith("@internal")):
                return
        self.request_count += 1
        ctx = req.ctx
        retries = ctx.get("retry_attempts", 0) if ctx else 0
        if self._filtered and not self._keep_line(status, retries, duration):
            return
        if self._json:
            line = self._json_line(req, status, response_bytes, duration, retries, ctx)
        else:
            line = self._clf_line(req, status, response_bytes, duration, ctx)
        # Appending to one buffer is what keeps this cheap: holding each orjson result alive costs ~5 us a line.
        self._pending += line
        self._pending_lines += 1
        if self._scheduled:
            if self._buffering and self._pending_lines >= self._buffering:
                self._hand_over()
            return
        if self._buffering == 1:
            self._hand_over()
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._hand_over()  # no loop (a synchronous caller): write now
            return
        self._scheduled = True
        if self._buffering:
            loop.call_later(FLUSH_INTERVAL, self._on_timer)
        else:
            loop.call_soon(self._on_timer)

    def _keep_line(self, status: int, retries: int, duration: float) -> bool:
        # Traefik's keepAccessLog: the filters are OR-ed.
        if 0 <= status < 1000:
            if self._status_table[status]:
                return True
        elif any(low <= status <= high for low, high in self._status_ranges):
            return True
        if self._filter_retry and retries > 0:
            return True
        return self._min_duration > 0 and duration > self._min_duration

    def _on_timer(self) -> None:
        self._scheduled = False
        if self._pending:
            self._hand_over()

    def _hand_over(self) -> None:
        batch = self._pending
        if batch:
            self._pending = bytearray()
            self._pending_lines = 0
            self._writer.submit(batch)

    # -- line rendering ----------------------------------------------------------------------------------------------
    def _scan_headers(self, req: Request, collect: bool) -> tuple[str, str, dict[str, str] | None]:
        # One pass over the raw headers: Host, the first X-Forwarded-For and (when collecting) the logged headers.
        host = xff = ""
        found: dict[str, str] | None = None
        cache = self._hdr_cache
        for name, value in req.headers.raw:
            if len(name) == 4 and name.lower() == b"host":
                if not host:
                    host = value.decode("latin-1")
                continue  # Go keeps Host out of the header map
            if len(name) == 15 and not xff and name.lower() == b"x-forwarded-for":
                xff = value.decode("latin-1")
            if collect:
                entry = cache.get(name)
                if entry is None:
                    canonical = canonical_header_key(name.decode("latin-1"))
                    entry = (canonical, self._hdr_names.get(canonical, self._hdr_default))
                    if len(cache) < _CACHE_LIMIT:
                        cache[name] = entry
                key, mode = entry
                if mode == _DROP:
                    continue
                if found is None:
                    found = {}
                if mode == _REDACT:
                    found[key] = _REDACTED
                elif key in found:
                    found[key] += "," + value.decode("latin-1")
                else:
                    found[key] = value.decode("latin-1")
        return host, xff, found

    def _request_path(self, req: Request) -> str:
        path = _target_path(req.target)
        if self._query_plain:
            return path
        base, sep, query = path.partition("?")
        if not sep:
            return path
        kept: list[str] = []
        names = self._query_names
        default = self._query_default
        for param in query.split("&"):
            key = param.partition("=")[0]
            if names:
                lookup = unquote_plus(key) if ("%" in key or "+" in key) else key
                mode = names.get(lookup, default)
            else:
                mode = default
            if mode == _KEEP:
                kept.append(param)
            elif mode == _REDACT:
                kept.append(f"{key}={_REDACTED}")
        return f"{base}?{'&'.join(kept)}" if kept else base

    def _json_line(
        self, req: Request, status: int, nbytes: int, duration: float, retries: int, ctx: dict[str, Any] | None
    ) -> bytes:
        now_ns = self._wall_ns()
        dur_ns = int(duration * _NS)
        start_sec, start_frac = divmod(now_ns - dur_ns, _NS)
        fraction = _fraction(start_frac)
        seconds = self._seconds
        host_header, xff, headers = self._scan_headers(req, self._hdr_any)
        if not host_header:
            host_header = req.host
        req_host, req_port = _split_host_port(host_header)
        server_url = req.server_url
        origin_ns = 0
        if server_url:
            # From the proxy's (last) call to the backend to the end of the response: Traefik's OriginDuration.
            origin_ns = dur_ns - int((req.origin_started - req.started) * _NS) if req.origin_started else dur_ns
            origin_ns = min(max(origin_ns, 0), dur_ns)
        route = req.route
        client_ip = req.client_ip
        client_port = str(req.client_port)
        body = req.body
        if self._all_kept:
            # The default: one dict literal, then remove what this request does not have.
            local, offset = seconds.local(start_sec)
            d: dict[str, Any] = {
                "ClientAddr": f"[{client_ip}]:{client_port}" if ":" in client_ip else f"{client_ip}:{client_port}",
                "ClientHost": xff or client_ip,
                "ClientPort": client_port,
                "ClientUsername": (ctx.get("client_username") if ctx else None) or "-",
                "DownstreamContentSize": nbytes,
                "DownstreamStatus": status,
                "Duration": dur_ns,
                "OriginContentSize": nbytes if server_url else 0,
                "OriginDuration": origin_ns,
                "OriginStatus": status if server_url else 0,
                "Overhead": dur_ns - origin_ns,
                "RequestAddr": host_header,
                "RequestContentSize": body.received if isinstance(body, StreamBody) else len(body),
                "RequestCount": self.request_count,
                "RequestHost": req_host,
                "RequestMethod": req.method,
                "RequestPath": self._request_path(req),
                "RequestPort": req_port,
                "RequestProtocol": _PROTOCOLS.get(req.version) or f"HTTP/{req.version}",
                "RequestScheme": "https" if req.tls else "http",
                "RetryAttempts": retries,
                "RouterName": None,
                "ServiceAddr": _service_addr(server_url),
                "ServiceName": None,
                "ServiceURL": server_url,
                "StartLocal": f"{local}{fraction}{offset}",
                "StartUTC": f"{seconds.utc(start_sec)}{fraction}Z",
                "entryPointName": req.entry_point,
            }
            if not host_header:
                del d["RequestAddr"], d["RequestHost"], d["RequestPort"]
            if route is None:
                del d["RouterName"], d["ServiceName"]
            else:
                d["RouterName"] = route.name
                if route.service:
                    d["ServiceName"] = route.service
                else:
                    del d["ServiceName"]
            if not server_url:
                del d["ServiceAddr"], d["ServiceURL"]
        else:
            d = self._json_fields(
                req, status, nbytes, dur_ns, origin_ns, retries, ctx, host_header, req_host, req_port, xff, start_sec
            )
            if "StartLocal" in d:
                local, offset = seconds.local(start_sec)
                d["StartLocal"] = f"{local}{fraction}{offset}"
            if "StartUTC" in d:
                d["StartUTC"] = f"{seconds.utc(start_sec)}{fraction}Z"
        trace = req.trace
        if trace is not None:
            keep_trace, keep_span = self._trace_fields
            if keep_trace:
                d["TraceId"] = trace.trace_hex
            if keep_span:
                d["SpanId"] = trace.span_id
            d = dict(sorted(d.items()))  # Go's key order
        d["level"] = "info"
        d["msg"] = ""
        if headers:
            for key in sorted(headers):
                d["request_" + key] = headers[key]
        now_local, now_offset = seconds.local(now_ns // _NS)
        d["time"] = f"{now_local}{now_offset}"
        return orjson.dumps(d, option=orjson.OPT_APPEND_NEWLINE)

    def _json_fields(
        self,
        req: Request,
        status: int,
        nbytes: int,
        dur_ns: int,
        origin_ns: int,
        retries: int,
        ctx: dict[str, Any] | None,
        host_header: str,
        req_host: str,
        req_port: str,
        xff: str,
        start_sec: int,
    ) -> dict[str, Any]:
        # The customised case: only the kept fields are computed and inserted, in Go's key order. StartLocal and
        # StartUTC get a placeholder that the caller fills in.
        (
            k_client_addr,
            k_client_host,
            k_client_port,
            k_client_user,
            k_down_size,
            k_down_status,
            k_duration,
            k_origin_size,
            k_origin_duration,
            k_origin_status,
            k_overhead,
            k_req_addr,
            k_req_size,
            k_req_count,
            k_req_host,
            k_req_method,
            k_req_path,
            k_req_port,
            k_req_proto,
            k_req_scheme,
            k_retries,
            k_router,
            k_svc_addr,
            k_svc_name,
            k_svc_url,
            k_start_local,
            k_start_utc,
            k_entry_point,
        ) = self._keep
        server_url = req.server_url
        route = req.route
        d: dict[str, Any] = {}
        if k_client_addr:
            ip, port = req.client_ip, req.client_port
            d["ClientAddr"] = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
        if k_client_host:
            d["ClientHost"] = xff or req.client_ip
        if k_client_port:
            d["ClientPort"] = str(req.client_port)
        if k_client_user:
            d["ClientUsername"] = (ctx.get("client_username") if ctx else None) or "-"
        if k_down_size:
            d["DownstreamContentSize"] = nbytes
        if k_down_status:
            d["DownstreamStatus"] = status
        if k_duration:
            d["Duration"] = dur_ns
        if k_origin_size:
            d["OriginContentSize"] = nbytes if server_url else 0
        if k_origin_duration:
            d["OriginDuration"] = origin_ns
        if k_origin_status:
            d["OriginStatus"] = status if server_url else 0
        if k_overhead:
            d["Overhead"] = dur_ns - origin_ns
        if k_req_addr and host_header:
            d["RequestAddr"] = host_header
        if k_req_size:
            body = req.body
            d["RequestContentSize"] = body.received if isinstance(body, StreamBody) else len(body)
        if k_req_count:
            d["RequestCount"] = self.request_count
        if k_req_host and host_header:
            d["RequestHost"] = req_host
        if k_req_method:
            d["RequestMethod"] = req.method
        if k_req_path:
            d["RequestPath"] = self._request_path(req)
        if k_req_port and host_header:
            d["RequestPort"] = req_port
        if k_req_proto:
            d["RequestProtocol"] = _PROTOCOLS.get(req.version) or f"HTTP/{req.version}"
        if k_req_scheme:
            d["RequestScheme"] = "https" if req.tls else "http"
        if k_retries:
            d["RetryAttempts"] = retries
        if k_router and route is not None:
            d["RouterName"] = route.name
        if k_svc_addr and server_url:
            d["ServiceAddr"] = _service_addr(server_url)
        if k_svc_name and route is not None and route.service:
            d["ServiceName"] = route.service
        if k_svc_url and server_url:
            d["ServiceURL"] = server_url
        if k_start_local:
            d["StartLocal"] = ""
        if k_start_utc:
            d["StartUTC"] = ""
        if k_entry_point:
            d["entryPointName"] = req.entry_point
        return d

    def _clf_line(self, req: Request, status: int, nbytes: int, duration: float, ctx: dict[str, Any] | None) -> bytes:
        keep = self.kept_fields
        all_kept = self._all_kept
        collect = self._referer_mode != _DROP or self._ua_mode != _DROP
        _, xff, headers = self._scan_headers(req, collect)
        client = (xff or req.client_ip or "-") if all_kept or "ClientHost" in keep else "-"
        user = ((ctx.get("client_username") if ctx else None) or "-") if all_kept or "ClientUsername" in keep else "-"
        dur_ns = int(duration * _NS)
        if all_kept or "StartUTC" in keep:
            stamp = self._seconds.clf((self._wall_ns() - dur_ns) // _NS, True)
        elif "StartLocal" in keep:
            stamp = self._seconds.clf((self._wall_ns() - dur_ns) // _NS, False)
        else:
            stamp = "-"
        method = req.method if all_kept or "RequestMethod" in keep else "-"
        path = (self._request_path(req) or "-") if all_kept or "RequestPath" in keep else "-"
        proto = (_PROTOCOLS.get(req.version) or f"HTTP/{req.version}") if all_kept or "RequestProtocol" in keep else "-"
        code = str(status) if all_kept or "DownstreamStatus" in keep else "-"
        size = str(nbytes) if all_kept or "DownstreamContentSize" in keep else "-"
        referer = agent = '"-"'
        if headers:
            value = headers.get("Referer")
            if value:
                referer = f'"{value}"'
            value = headers.get("User-Agent")
            if value:
                agent = f'"{value}"'
        head = f'{client} - {user} [{stamp}] "{method} {path} {proto}" {code} {size} {referer} {agent}'
        if self._generic:
            return (head + "\n").encode("utf-8")
        count = str(self.request_count) if all_kept or "RequestCount" in keep else "-"
        route = req.route
        router = f'"{route.name}"' if route is not None and route.name and (all_kept or "RouterName" in keep) else '"-"'
        url = req.server_url
        service = f'"{url}"' if url and (all_kept or "ServiceURL" in keep) else '"-"'
        millis = dur_ns // 1_000_000 if all_kept or "Duration" in keep else 0
        return f"{head} {count} {router} {service} {millis}ms\n".encode()

    # -- lifecycle ---------------------------------------------------------------------------------------------------
    async def flush(self) -> None:
        """Hand over the pending lines and wait until the writer thread has written them."""
        self._hand_over()
        if not self._writer.stopped():
            await asyncio.wrap_future(self._writer.command(_BARRIER))

    def reopen(self) -> None:
        """Close and reopen the file (SIGUSR1 / logrotate): lines rendered from now on go to the new file."""
        if self._closed:
            return
        self._hand_over()
        self._writer.command(_REOPEN)

    async def aclose(self) -> None:
        """Write every pending line, stop the writer thread and close the file. Later requests are not logged."""
        if self._closed:
            return
        self._closed = True
        self._hand_over()
        if self._writer.stopped():
            self._writer.close_output()
            return
        await asyncio.wrap_future(self._writer.command(_STOP))
