"""The field table: every field of Traefik's access log (``logdata.go``) and how this runtime computes it.

Each :class:`Field` says how its value is computed, as a Python expression over the request being logged. The
formats (:mod:`.formats`) generate their line renderers from this table, so a field added here (TLS, gateway) is
computed once, emitted by the JSON format, dropped or kept by ``fields.names``, and either printed or knowingly left
out by each CLF format. Expressions may use:

* the renderer's parameters: ``req``, ``status`` (what the client got), ``nbytes`` (response bytes sent),
  ``duration`` (seconds), ``retries`` and ``username`` (:func:`request_annotations`), ``count`` (``RequestCount``);
* the values of :data:`STEPS`, each computed once per line, and only when a kept field needs it;
* the names of :func:`namespace`.

What this runtime cannot know yet is not in the table: ``GzipRatio`` and the ``origin_``/``downstream_`` header
fields (the observer hook does not carry them). The TLS fields read the connection's ``req.tls_info``
(:mod:`hanzo_edge.http.tls_info`), set only on TLS connections, as Traefik sets them only when ``req.TLS`` is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from hanzo_edge.http.body import StreamBody
from hanzo_edge.observability.accesslog.gofmt import (
    NANOS,
    PROTOCOLS,
    Seconds,
    fraction,
    service_addr,
    split_host_port,
)

if TYPE_CHECKING:
    from hanzo_edge.http.messages import Request

__all__ = ["CORE_FIELDS", "FIELDS", "STEPS", "Field", "Step", "namespace", "request_annotations"]


@dataclass(frozen=True, slots=True)
class Step:
    """An intermediate value shared by several fields: ``names = expr``, computed once per line when needed."""

    names: str
    """The local name(s) bound, e.g. ``dur_ns`` or ``start_sec, start_frac``."""
    expr: str


@dataclass(frozen=True, slots=True)
class Field:
    """One access-log field."""

    key: str
    """Traefik's name: the JSON key, and what ``fields.names`` matches (case-insensitively)."""
    value: str
    """The value, as Traefik's JSON format writes it."""
    kind: type
    """The Go value's type, ``int`` or ``str``: CLF prints ``-`` for an empty string, an int as it is."""
    present: str = ""
    """When set, the field exists only for requests where this is true (Traefik leaves it unset otherwise)."""
    clf: str = ""
    """The value as the CLF formats print it, when it differs from :attr:`value` (times, milliseconds)."""
    core: bool = True
    """False for the fields Traefik's tracing adds, which are not among the core keys."""


STEPS: Final = (
    Step("dur_ns", "int(duration * NANOS)"),
    Step("now_ns", "wall_ns()"),
    Step("start_sec, start_frac", "divmod(now_ns - dur_ns, NANOS)"),
    # Go's RFC3339Nano fraction (gofmt.fraction), inline: a call per line costs more than the formatting.
    Step("start_fraction", 'f".{start_frac:09d}".rstrip("0") if start_frac else ""'),
    Step("utc_start, local_start, local_offset", "seconds.start(start_sec)"),  # formatted once per second
    Step("now_text", "seconds.rfc3339(now_ns // NANOS)"),  # logrus' "time": when the line was written
    # Host and X-Forwarded-For come from the same pass that collects the logged request headers.
    Step("host_header, xff, headers", "scan_headers(req, collect_headers)"),
    # Without a Host header, the request's canonical host (absolute-form authority) stands in.
    Step("host", "host_header or req.host"),
    Step("req_host, req_port", "split_host_port(host)"),
    Step("server_url", "req.server_url"),
    # Traefik's OriginDuration: from the proxy's (last) call to the backend until the response was complete.
    Step("origin_start_ns", "int((req.origin_started - req.started) * NANOS) if req.origin_started else 0"),
    Step("origin_ns", "min(max(dur_ns - origin_start_ns, 0), dur_ns) if server_url else 0"),
    Step("route", "req.route"),
    Step("client_ip", "req.client_ip"),
    Step("client_port", "str(req.client_port)"),
    Step("body", "req.body"),
    Step("trace", "req.trace"),
    Step("tls", "req.tls_info"),
)

# In Go's (byte-wise sorted) key order, the order of JSON lines.
FIELDS: Final = (
    Field(
        "ClientAddr",
        'f"[{client_ip}]:{client_port}" if ":" in client_ip else f"{client_ip}:{client_port}"',
        str,
    ),
    Field("ClientHost", "xff or client_ip", str),  # Traefik logs the whole X-Forwarded-For value
    Field("ClientPort", "client_port", str),
    Field("ClientUsername", "username", str),
    Field("DownstreamContentSize", "nbytes", int),
    Field("DownstreamStatus", "status", int),
    Field("Duration", "dur_ns", int, clf="dur_ns // 1_000_000"),
    # The Origin* fields describe the backend's answer; 0 when Traefik-side code answered.
    Field("OriginContentSize", "nbytes if server_url else 0", int),
    Field("OriginDuration", "origin_ns", int),
    Field("OriginStatus", "status if server_url else 0", int),
    Field("Overhead", "dur_ns - origin_ns", int),
    Field("RequestAddr", "host", str, present="host"),
    Field("RequestContentSize", "body.received if isinstance(body, StreamBody) else len(body)", int),
    Field("RequestCount", "count", int),
    Field("RequestHost", "req_host", str, present="host"),
    Field("RequestMethod", "req.method", str),
    Field("RequestPath", "request_path(req.target)", str),  # the target as received, before path-rewriting middlewares
    Field("RequestPort", "req_port", str, present="host"),
    Field("RequestProtocol", 'PROTOCOLS.get(req.version) or f"HTTP/{req.version}"', str),
    Field("RequestScheme", '"https" if req.tls else "http"', str),
    Field("RetryAttempts", "retries", int),
    Field("RouterName", "route.name", str, present="route is not None"),
    Field("ServiceAddr", "service_addr(server_url)", str, present="server_url"),
    Field("ServiceName", "route.service", str, present="route is not None and route.service"),
    Field("ServiceURL", "server_url", str, present="server_url"),
    Field("SpanId", "trace.span_id", str, present="trace is not None", core=False),  # the entrypoint span
    Field(
        "StartLocal",
        'f"{local_start}{start_fraction}{local_offset}"',
        str,
        clf="seconds.clf(start_sec, False)",
    ),
    Field("StartUTC", 'f"{utc_start}{start_fraction}Z"', str, clf="seconds.clf(start_sec, True)"),
    Field("TLSCipher", "tls.cipher", str, present="tls is not None"),
    # Go's Subject.String() of the client certificate, only when the client sent one
    Field("TLSClientSubject", "tls.client_subject", str, present="tls is not None and tls.client_subject"),
    Field("TLSVersion", "tls.version", str, present="tls is not None"),
    Field("TraceId", "trace.trace_hex", str, present="trace is not None", core=False),
    Field("entryPointName", "req.entry_point", str),
)

CORE_FIELDS: Final = tuple(field.key for field in FIELDS if field.core)
"""The core fields, in Go's key order: what ``fields.names`` and ``fields.defaultMode`` choose from."""


def request_annotations(req: Request) -> tuple[int, str]:
    """What middlewares left on the request for the log: ``(RetryAttempts, ClientUsername)``; ``-`` for no user."""
    return req.retry_attempts or 0, req.client_username or "-"


def namespace(
    *,
    wall_ns: Callable[[], int],
    seconds: Seconds,
    scan_headers: Callable[[Request, bool], tuple[str, str, dict[str, str] | None]],
    request_path: Callable[[str], str],
) -> dict[str, Any]:
    """The names, besides the renderer's parameters and the steps, that the table's expressions may use."""
    return {
        "NANOS": NANOS,
        "PROTOCOLS": PROTOCOLS,
        "StreamBody": StreamBody,
        "fraction": fraction,
        "request_path": request_path,
        "scan_headers": scan_headers,
        "seconds": seconds,
        "service_addr": service_addr,
        "split_host_port": split_host_port,
        "wall_ns": wall_ns,
    }
