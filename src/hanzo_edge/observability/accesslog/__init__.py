"""Access log: one line per finished request, in Traefik's ``json``, ``common`` or ``genericCLF`` format.

:attr:`AccessLog.observer` is the data-plane hook (``observer(req, status, response_bytes, duration, aborted)``), the
compiled :class:`.batch.LineBatch`'s ``observe``. It
filters the request like Traefik's ``keepAccessLog`` (status ranges OR retried OR slower than ``minDuration``),
renders one line and appends it to an in-memory batch:

* ``bufferingSize`` 0: the batch is handed over at the end of the current event-loop iteration (``loop.call_soon``),
  so a burst of requests finishing together costs one write;
* ``bufferingSize`` N: the batch is handed over once N lines are pending, or :data:`FLUSH_INTERVAL` seconds after its
  first line, whichever comes first (Traefik keeps at most N lines in memory; it has no time bound because its
  writer goroutine drains continuously);
* to a file, a batch is also handed over once it holds :data:`DIRECT_BATCH_BYTES`, so a burst never holds more.

A handed-over batch is written by :mod:`.output`: on the loop, one ``os.write``, when the output is a regular file or
``/dev/null`` (a page-cache write, cheaper than waking a thread: see there), else by one writer thread.
:meth:`AccessLog.reopen` (SIGUSR1, logrotate) runs after the batches handed over before it, so the lines rendered
before it land in the old file and the later ones in the new file.

The package:

* :mod:`.batch`: the per-request half (filter, render, append), compiled with the hot path;
* :mod:`.json_line`: the JSON line written out by hand for the compiled build (the generated one is the reference);
* :mod:`.common_line`: the same for the ``common`` and ``genericCLF`` lines;
* :mod:`.fields`: **the field table**, every field Traefik's access log has and how it is computed here. A new
  field (TLS, gateway) is added there and nowhere else: the JSON format emits every field of the table, the CLF
  formats print their fixed list, and ``fields.names`` applies to it;
* :mod:`.formats`: ``json``, ``common`` and ``genericCLF``, each generated from the table into one renderer per log
  (:mod:`.codegen` says why), so a line computes only the fields it keeps;
* :mod:`.modes`: the keep/drop/redact modes of fields, request headers and query parameters;
* :mod:`.gofmt`: Go's formatting of header keys, host:port, times and CLF values;
* :mod:`.output`: the file, stream or stdout, written by :mod:`hanzo_edge.observability.writer_thread`.

JSON lines carry Traefik's keys in Go's sorted order, durations as integer nanoseconds, ports as strings, plus
logrus' ``level``/``msg``/``time``. ``RequestPath`` is the request-target as received; the ``Origin*`` fields
describe the backend's answer (0 when Traefik-side code answered, ``Overhead`` = ``Duration`` then); ``TraceId`` and
``SpanId`` are present when tracing is on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Final

from hanzo_edge.observability.accesslog import common_line, json_line
from hanzo_edge.observability.accesslog.batch import LineBatch
from hanzo_edge.observability.accesslog.codegen import Renderer
from hanzo_edge.observability.accesslog.fields import CORE_FIELDS, namespace
from hanzo_edge.observability.accesslog.formats import COMMON, FORMATS, GENERIC_CLF, clf_renderer, json_renderer
from hanzo_edge.observability.accesslog.gofmt import Seconds, canonical_header_key
from hanzo_edge.observability.accesslog.modes import DROP, HeaderModes, QueryModes, kept_fields
from hanzo_edge.observability.accesslog.output import BARRIER, REOPEN, STOP, LogOutput

if TYPE_CHECKING:
    from hanzo_edge.config.static import AccessLog as AccessLogConfig
    from hanzo_edge.http.settings import RequestObserver

__all__ = ["CORE_FIELDS", "FLUSH_INTERVAL", "AccessLog", "canonical_header_key", "parse_status_ranges"]

log = logging.getLogger(__name__)

FLUSH_INTERVAL: Final = 0.1
"""With ``bufferingSize`` > 0, the longest time (seconds) a line waits in memory before it is handed to the writer."""

DIRECT_BATCH_BYTES: Final = 64 * 1024
"""Written on the loop, a batch is handed over once it holds this much (one write per 64 KiB at most)."""


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
        self._writer = LogOutput(file_path, stream)
        if format not in FORMATS:
            log.error("unsupported access log format %r, defaulting to common format instead", format)
        self._json = format == "json"
        self._generic = format == "genericCLF"
        self._buffering = max(0, buffering_size)
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop observer() runs on, once seen

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

        # What a line holds. TraceId and SpanId are not core fields, but fields.names applies to them too.
        names = fields_names or {}
        self.kept_fields = kept_fields(CORE_FIELDS, fields_default, names)
        """The core fields this log emits."""
        kept = self.kept_fields | kept_fields(("TraceId", "SpanId"), fields_default, names)
        headers = HeaderModes(headers_default, headers_names or {})
        self._hdr_any = headers.any_logged
        query = QueryModes(query_default, query_names or {})
        render_names = namespace(
            wall_ns=wall_ns, seconds=Seconds(), scan_headers=headers.scan, request_path=query.request_path
        )
        self._render: Renderer
        written: json_line.JsonLine | None = None
        if self._json and json_line.compiled():
            # The compiled build's hand-written renderer: the same line as the generated one, ~2.5x cheaper there.
            written = json_line.JsonLine(
                kept,
                wall_ns=wall_ns,
                seconds=render_names["seconds"],
                scan_headers=headers.scan,
                request_path=query.request_path,
                plain_query=query.plain,
                log_headers=headers.any_logged,
            )
            self._render = written.render
        elif self._json:
            self._render = json_renderer(kept, render_names, headers.any_logged)
        clf: common_line.CommonLine | None = None
        if not self._json:
            collect = headers.mode("Referer") != DROP or headers.mode("User-Agent") != DROP
            if common_line.compiled():
                # The compiled build's hand-written CLF line: the generated one's bytes, a fraction of its cost.
                clf = common_line.CommonLine(
                    kept,
                    generic=self._generic,
                    wall_ns=wall_ns,
                    seconds=render_names["seconds"],
                    referer=headers.mode("Referer"),
                    user_agent=headers.mode("User-Agent"),
                    request_path=query.request_path,
                    plain_query=query.plain,
                )
                self._render = clf.render
            else:
                form = GENERIC_CLF if self._generic else COMMON
                self._render = clf_renderer(form, kept, render_names, collect)
        self._batch = LineBatch(
            self._render,
            written,
            add_internals=add_internals,
            status_table=bytes(table),
            status_ranges=tuple(ranges),
            retry_attempts=retry_attempts,
            min_duration=min_duration,
            buffering=self._buffering,
            # A thread's batch may grow for the whole loop iteration (one queue item); one written here stays small.
            batch_bytes=DIRECT_BATCH_BYTES if self._writer.direct else 1 << 62,
            start_batch=self._start_batch,
            hand_over=self._hand_over,
            common=clf,
        )
        self.observer: RequestObserver = self._batch.observe
        """Log one finished request (``RequestObserver``): the compiled per-request half, :class:`LineBatch`."""

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
    @property
    def request_count(self) -> int:
        """Requests observed since start (Traefik's ``RequestCount``)."""
        return self._batch.request_count

    def _start_batch(self) -> None:
        # The first line of a batch: hand it over at the end of this loop iteration, or after FLUSH_INTERVAL.
        loop = self._loop
        if loop is None or not loop.is_running():
            # asyncio.get_running_loop() makes a getpid() system call on every call (CPython 3.11): ask it once.
            try:
                loop = self._loop = asyncio.get_running_loop()
            except RuntimeError:
                self._hand_over()  # no loop (a synchronous caller): write now
                return
        self._batch.scheduled = True
        if self._buffering:
            loop.call_later(FLUSH_INTERVAL, self._on_timer)
        else:
            loop.call_soon(self._on_timer)

    def _on_timer(self) -> None:
        self._batch.scheduled = False
        if self._batch.lines:
            self._hand_over()

    def _hand_over(self) -> None:
        while self._batch.lines:  # each take() renders one batch (at most DIRECT_BATCH_BYTES written on the loop)
            batch = self._batch.take()
            if batch:
                self._writer.submit(batch)

    # -- lifecycle ---------------------------------------------------------------------------------------------------
    async def flush(self) -> None:
        """Hand over the pending lines and wait until the writer thread has written them."""
        self._hand_over()
        if not self._writer.stopped():
            await asyncio.wrap_future(self._writer.command(BARRIER))

    def reopen(self) -> None:
        """Close and reopen the file (SIGUSR1 / logrotate): lines rendered from now on go to the new file."""
        if self._batch.closed:
            return
        self._hand_over()
        self._writer.command(REOPEN)

    async def aclose(self) -> None:
        """Write every pending line, stop the writer thread and close the file. Later requests are not logged."""
        if self._batch.closed:
            return
        self._batch.closed = True
        self._hand_over()
        if self._writer.stopped():
            self._writer.close_output()
            return
        await asyncio.wrap_future(self._writer.command(STOP))
