"""Traefik's JSON access-log line, written out by hand for the compiled build (issue 22).

:func:`formats.json_renderer` generates a renderer from the field table (:mod:`.fields`) for each configuration; that
is the reference and what a pure-Python process runs. This module computes the same line with the same table's
rules, as ordinary typed code that mypyc compiles with the hot path (``scripts/build_compiled.py``): there the
attribute reads of the (native) request, the per-second time texts and the small memos cost a few nanoseconds each,
and only ``orjson.dumps`` of the finished dict is left of the ~4 µs a generated line takes under the interpreter.

It must stay byte-for-byte equal to the generated renderer for every configuration and request:
``tests/property/test_accesslog_json_line_equal.py`` compares the two with Hypothesis, and its key-set test fails
when a field is added to the table and not here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Final

import orjson

from hanzo_edge.http.body import StreamBody
from hanzo_edge.observability.accesslog.gofmt import PROTOCOLS, Seconds, remember, service_addr, split_host_port

if TYPE_CHECKING:
    from hanzo_edge.http.messages import MatchedRoute, Request

__all__ = ["JSON_LINE_FIELDS", "JsonLine", "compiled", "request_content_size"]

_NANOS: Final = 1_000_000_000
_NANOS_FLOAT: Final = 1e9  # float * int is a generic call compiled; float * float is one native multiply (same value)
_APPEND_NEWLINE: Final = orjson.OPT_APPEND_NEWLINE
_MEMO_LIMIT: Final = 4096

JSON_LINE_FIELDS: Final = (
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
    "SpanId",
    "StartLocal",
    "StartUTC",
    "TLSCipher",
    "TLSClientSubject",
    "TLSVersion",
    "TraceId",
    "entryPointName",
)
"""The fields :class:`JsonLine` knows, in Go's key order: the table's, checked by a test."""


_NUMBERS: Final = tuple(str(n) for n in range(1000))
"""The texts of 0..999: a status, a retry count, most request and response sizes, without an int-to-str per line."""
_DIGITS: Final = tuple(f"{n:03d}" for n in range(1000))
_DIGITS_TRIMMED: Final = tuple(f"{n:03d}".rstrip("0") for n in range(1000))
"""Three digits of a fraction, padded (``007``) and, for its last group, with trailing zeros removed (``07``)."""


def _number(value: int) -> str:
    # str(value), from the table when it holds it.
    return _NUMBERS[value] if 0 <= value < 1000 else str(value)


def _fraction(frac: int) -> str:
    """Go's RFC3339Nano fraction of ``frac`` nanoseconds (0 <= frac < 1e9): nine digits, trailing zeros removed,
    nothing when zero (what ``gofmt.fraction`` gives), from three-digit groups instead of ``str`` and ``rstrip``."""
    if not frac:
        return ""
    high = frac // 1_000_000
    rest = frac - high * 1_000_000
    mid = rest // 1000
    low = rest - mid * 1000
    if low:
        return f".{_DIGITS[high]}{_DIGITS[mid]}{_DIGITS_TRIMMED[low]}"
    if mid:
        return f".{_DIGITS[high]}{_DIGITS_TRIMMED[mid]}"
    return "." + _DIGITS_TRIMMED[high]


_isprintable: Final = str.isprintable  # called unbound: compiled, text.isprintable() looks the method up per call
_NOT_USUAL: Final = ("SpanId", "TLSCipher", "TLSClientSubject", "TLSVersion", "TraceId")
"""The fields the usual request (no trace, plain HTTP) does not have."""


def _plain(text: str) -> bool:
    """Whether JSON writes ``text`` as it is between quotes (no quote, backslash or control character in it).

    Stricter than needed (``isprintable`` refuses some characters orjson passes through): those take the dict path.
    Host and its parts: a Host without such characters has parts without them.
    """
    return _isprintable(text) and '"' not in text and "\\" not in text


def _quoted(text: str) -> str:
    """``text`` as a JSON string, as orjson writes it: quoted as it is unless a character must be escaped."""
    return '"' + text + '"' if _plain(text) else orjson.dumps(text).decode()


def request_content_size(req: Request) -> int:
    """Traefik's ``RequestContentSize``: the body bytes received so far."""
    body = req.body
    return body.received if isinstance(body, StreamBody) else len(body)


def compiled() -> bool:
    """Whether this module runs compiled (mypyc): only then is :class:`JsonLine` the faster renderer."""
    return not __file__.endswith(".py")


class JsonLine:
    """The JSON renderer of one log: ``render(req, status, nbytes, duration, retries, username, count) -> line``.

    ``kept`` are the field keys the log keeps (``fields.names``); ``scan_headers`` and ``request_path`` are the
    log's header and query modes (:mod:`.modes`), called only when they have work to do (``log_headers``: some
    request header is logged; ``plain_query``: every query parameter is kept, so ``RequestPath`` is the target).
    """

    def __init__(
        self,
        kept: frozenset[str],
        *,
        wall_ns: Callable[[], int],
        seconds: Seconds,
        scan_headers: Callable[[Request, bool], tuple[str, str, dict[str, str] | None]],
        request_path: Callable[[str], str],
        plain_query: bool,
        log_headers: bool,
    ) -> None:
        self._wall_ns = wall_ns
        self._seconds = seconds
        self._scan_headers = scan_headers
        self._request_path = request_path
        self._plain_query = plain_query
        self._log_headers = log_headers
        # The time memos hold a real second from the start (0, the epoch's), not a sentinel: every second is a
        # possible one (-1 is the one before 1970, and a sentinel equal to it printed empty times).
        self._start_sec = 0
        self._utc_start, self._local_start, self._local_offset = seconds.start(0)
        self._now_sec = 0
        self._now_text = seconds.rfc3339(0)
        # Host -> (host part, port part, needs no escape, and the usual line's three texts around them)
        self._hosts: dict[str, tuple[str, str, bool, str, str, str]] = {}
        # the usual line's text between the two fractions, for the start second
        self._start_middle = f'{self._local_offset}","StartUTC":"{self._utc_start}'
        self._tail_sec = 0
        self._tail_entry_point = ""
        # the usual line's end (entrypoint, level, msg, time) for that second and entrypoint
        self._tail = f'Z","entryPointName":"","level":"info","msg":"","time":"{self._now_text}"}}\n'
        self._protocols: dict[str, tuple[str, str]] = {}  # version -> its usual-line texts (http, https); plain only
        self._statuses: dict[int, tuple[str, str]] = {}  # status -> its two usual-line texts
        self._last_host_raw = b""  # the previous raw Host value and its text
        self._last_host = ""
        self._last_route: object = None  # the previous usual line's route object and backend URL, and their text
        self._last_server_url = ""
        self._last_router_text = ""
        self._service_addrs: dict[str, str] = {}
        self._client_addr = "ClientAddr" in kept
        self._client_host = "ClientHost" in kept
        self._client_port = "ClientPort" in kept
        self._client_username = "ClientUsername" in kept
        self._downstream_size = "DownstreamContentSize" in kept
        self._downstream_status = "DownstreamStatus" in kept
        self._duration = "Duration" in kept
        self._origin_size = "OriginContentSize" in kept
        self._origin_duration = "OriginDuration" in kept
        self._origin_status = "OriginStatus" in kept
        self._overhead = "Overhead" in kept
        self._request_addr = "RequestAddr" in kept
        self._request_size = "RequestContentSize" in kept
        self._request_count = "RequestCount" in kept
        self._request_host = "RequestHost" in kept
        self._request_method = "RequestMethod" in kept
        self._request_path_kept = "RequestPath" in kept
        self._request_port = "RequestPort" in kept
        self._request_protocol = "RequestProtocol" in kept
        self._request_scheme = "RequestScheme" in kept
        self._retry_attempts = "RetryAttempts" in kept
        self._router_name = "RouterName" in kept
        self._service_addr = "ServiceAddr" in kept
        self._service_name = "ServiceName" in kept
        self._service_url = "ServiceURL" in kept
        self._span_id = "SpanId" in kept
        self._start_local = "StartLocal" in kept
        self._start_utc = "StartUTC" in kept
        self._tls_cipher = "TLSCipher" in kept
        self._tls_subject = "TLSClientSubject" in kept
        self._tls_version = "TLSVersion" in kept
        self._trace_id = "TraceId" in kept
        self._entry_point = "entryPointName" in kept
        # Values several fields share are computed only when one of those fields is kept.
        self._need_host = self._request_addr or self._request_host or self._request_port
        self._need_start = self._start_local or self._start_utc
        self._need_origin = self._origin_duration or self._overhead
        # Traefik's default keeps every core field: that line is written as one string, no dict (see _usual_line).
        self._every_field = all(k in kept for k in JSON_LINE_FIELDS if k not in _NOT_USUAL)
        self._segments: dict[str, dict[str, tuple[str, str]]] = {}
        self._safe_names: set[str] = set()
        self._clients: dict[int, tuple[str, str]] = {}  # client port -> (client IP, its fields of the line)
        # The usual request (a Host, routed to a service, proxied; no trace, no TLS, no logged header) starts from a
        # copy of a dict already holding its keys in order: each store then replaces a value instead of growing the
        # dict (~0.5 µs of a compiled line). Any other request builds its dict key by key, in the same order.
        self._usual: dict[str, object] = dict.fromkeys(k for k in JSON_LINE_FIELDS if k in kept and k not in _NOT_USUAL)
        self._usual["level"] = "info"
        self._usual["msg"] = ""

    def render(
        self, req: Request, status: int, nbytes: int, duration: float, retries: int, username: str, count: int
    ) -> bytes:
        """Return ``req``'s line, newline included."""
        size = request_content_size(req)
        return self.render_at(req, status, nbytes, duration, retries, username, count, self._wall_ns(), size)

    def now(self) -> int:
        """The log's wall clock, in nanoseconds (what a line written now says)."""
        return self._wall_ns()

    def render_at(
        self,
        req: Request,
        status: int,
        nbytes: int,
        duration: float,
        retries: int,
        username: str,
        count: int,
        now_ns: int,
        request_size: int,
    ) -> bytes:
        """Return ``req``'s line as written at ``now_ns`` (the wall clock when the request was observed), with the
        ``RequestContentSize`` read then: a body drained after an early answer goes on growing."""
        line = self.line_at(req, status, nbytes, duration, retries, username, count, now_ns, request_size)
        return line.encode() if isinstance(line, str) else line

    def line_at(
        self,
        req: Request,
        status: int,
        nbytes: int,
        duration: float,
        retries: int,
        username: str,
        count: int,
        now_ns: int,
        request_size: int,
    ) -> str | bytes:
        """:meth:`render_at`'s line, as text when it was written as one string (the usual request: the batch joins
        those and encodes them once), else as orjson's bytes."""
        dur_ns = int(duration * _NANOS_FLOAT)
        server_url = req.server_url
        headers: dict[str, str] | None = None
        xff = ""
        host = ""
        if self._log_headers:
            host, xff, headers = self._scan_headers(req, True)
        elif self._client_host or self._need_host:
            # The header pass of modes.HeaderModes.scan without a header map: the first Host and X-Forwarded-For.
            host_raw = b""
            xff_raw = b""
            for name, value in req.headers.raw:
                size = len(name)
                # The usual spellings first: compiled, bytes.lower() is a method looked up per call.
                if size == 4:
                    if not host_raw and (name == b"Host" or name == b"host" or name.lower() == b"host"):
                        host_raw = value
                elif size == 15 and not xff_raw and (name == b"X-Forwarded-For" or name.lower() == b"x-forwarded-for"):
                    xff_raw = value
            if host_raw == self._last_host_raw:
                # The previous line's Host (most of a log's lines have one of few): its text object again, whose
                # hash the Host memo's lookup then reuses, instead of a new one to decode and hash.
                host = self._last_host
            else:
                host = host_raw.decode("latin-1")
                self._last_host_raw = host_raw
                self._last_host = host
            xff = xff_raw.decode("latin-1")
        if not host:
            host = req.host
        route = req.route
        trace = req.trace
        tls = req.tls_info
        usual = route is not None and bool(route.service) and bool(host) and bool(server_url)
        if usual and trace is None and tls is None and not headers:
            if self._every_field and route is not None and not self._log_headers:
                written = self._usual_line(
                    req,
                    route,
                    server_url,
                    host,
                    xff,
                    status,
                    nbytes,
                    dur_ns,
                    now_ns,
                    retries,
                    username,
                    count,
                    request_size,
                )
                if written is not None:
                    return written
            line = self._usual.copy()
        else:
            line = {}
        client_ip = req.client_ip
        client_port = str(req.client_port)
        if self._client_addr:
            line["ClientAddr"] = f"[{client_ip}]:{client_port}" if ":" in client_ip else f"{client_ip}:{client_port}"
        if self._client_host:
            line["ClientHost"] = xff or client_ip
        if self._client_port:
            line["ClientPort"] = client_port
        if self._client_username:
            line["ClientUsername"] = username
        if self._downstream_size:
            line["DownstreamContentSize"] = nbytes
        if self._downstream_status:
            line["DownstreamStatus"] = status
        if self._duration:
            line["Duration"] = dur_ns
        if self._origin_size:
            line["OriginContentSize"] = nbytes if server_url else 0
        origin_ns = 0
        if self._need_origin and server_url:
            origin_started = req.origin_started
            origin_start_ns = int((origin_started - req.started) * _NANOS_FLOAT) if origin_started else 0
            origin_ns = min(max(dur_ns - origin_start_ns, 0), dur_ns)
        if self._origin_duration:
            line["OriginDuration"] = origin_ns
        if self._origin_status:
            line["OriginStatus"] = status if server_url else 0
        if self._overhead:
            line["Overhead"] = dur_ns - origin_ns
        req_host = req_port = ""
        if self._need_host and host:
            known = self._host_parts(host)
            req_host = known[0]
            req_port = known[1]
        if self._request_addr and host:
            line["RequestAddr"] = host
        if self._request_size:
            line["RequestContentSize"] = request_size
        if self._request_count:
            line["RequestCount"] = count
        if self._request_host and host:
            line["RequestHost"] = req_host
        if self._request_method:
            line["RequestMethod"] = req.method
        if self._request_path_kept:
            target = req.target
            if self._plain_query and (target[:1] == "/" or target == "*"):
                line["RequestPath"] = target  # gofmt.target_path's common case, without the call
            else:
                line["RequestPath"] = self._request_path(target)
        if self._request_port and host:
            line["RequestPort"] = req_port
        if self._request_protocol:
            version = req.version
            line["RequestProtocol"] = PROTOCOLS.get(version) or f"HTTP/{version}"
        if self._request_scheme:
            line["RequestScheme"] = "https" if req.tls else "http"
        if self._retry_attempts:
            line["RetryAttempts"] = retries
        if route is not None and self._router_name:
            line["RouterName"] = route.name
        if server_url and self._service_addr:
            addr = self._service_addrs.get(server_url)
            if addr is None:
                addr = service_addr(server_url)
                remember(self._service_addrs, server_url, addr, _MEMO_LIMIT)
            line["ServiceAddr"] = addr
        if route is not None and self._service_name:
            service = route.service
            if service:
                line["ServiceName"] = service
        if server_url and self._service_url:
            line["ServiceURL"] = server_url
        if trace is not None and self._span_id:
            line["SpanId"] = trace.span_id
        if self._need_start:
            fraction = self._start_fraction(now_ns - dur_ns)
            if self._start_local:
                line["StartLocal"] = self._local_start + fraction + self._local_offset
            if self._start_utc:
                line["StartUTC"] = self._utc_start + fraction + "Z"
        if tls is not None:
            if self._tls_cipher:
                line["TLSCipher"] = tls.cipher
            if self._tls_subject and tls.client_subject:
                line["TLSClientSubject"] = tls.client_subject
            if self._tls_version:
                line["TLSVersion"] = tls.version
        if trace is not None and self._trace_id:
            line["TraceId"] = trace.trace_hex
        if self._entry_point:
            line["entryPointName"] = req.entry_point
        line["level"] = "info"
        line["msg"] = ""
        if headers:
            for key in sorted(headers):
                line["request_" + key] = headers[key]
        line["time"] = self._time_text(now_ns)
        return orjson.dumps(line, option=_APPEND_NEWLINE)

    def _usual_line(
        self,
        req: Request,
        route: MatchedRoute,
        server_url: str,
        host: str,
        xff: str,
        status: int,
        nbytes: int,
        dur_ns: int,
        now_ns: int,
        retries: int,
        username: str,
        count: int,
        size: int,
    ) -> str | None:
        """The usual request's line with every core field (Traefik's default), as one string: what ``render``
        gives, without the dict. None when a client string holds a character JSON escapes (``render`` then takes
        the dict path); the router's part is quoted by orjson once and remembered.

        The line is joined from few pieces: what stays the same between lines (a client's fields, a Host's, a
        router's, a protocol's, a status's, a second's) is one remembered text with the keys around it, so only the
        per-request values are joined one by one."""
        client_ip = req.client_ip
        target = req.target
        path = target if self._plain_query and (target[:1] == "/" or target == "*") else self._request_path(target)
        method = req.method
        entry_point = req.entry_point
        safe = self._safe_names
        known = self._host_parts(host)
        if not (
            known[2]
            and _plain(path)
            and (not xff or _plain(xff))
            and (username == "-" or _plain(username))
            and (method in safe or self._remember_plain(method))
            and (entry_point in safe or self._remember_plain(entry_point))
        ):
            return None
        protocol = self._protocols.get(req.version)
        if protocol is None:
            protocol = self._protocol_texts(req.version)
            if not protocol[0]:
                return None
        port = req.client_port
        client = self._clients.get(port)
        if client is None or client[0] != client_ip:
            # A connection's first line: its client's three fields, remembered by port (the IP checked each time).
            client = (client_ip, self._client_fields(client_ip, port))
            remember(self._clients, port, client, _MEMO_LIMIT)
        client_fields = client[1]
        if not client_fields:
            return None
        if xff or username != "-":
            client_port = str(port)
            bracket = ":" in client_ip  # an IPv6 client: [ip]:port
            client_fields = (
                f'{{"ClientAddr":"{"[" if bracket else ""}{client_ip}{"]" if bracket else ""}:{client_port}",'
                f'"ClientHost":"{xff or client_ip}","ClientPort":"{client_port}","ClientUsername":"{username}",'
                '"DownstreamContentSize":'
            )
        origin_started = req.origin_started
        origin_start_ns = int((origin_started - req.started) * _NANOS_FLOAT) if origin_started else 0
        origin_ns = min(max(dur_ns - origin_start_ns, 0), dur_ns)
        if route is self._last_route and server_url is self._last_server_url:
            # The previous line's route (the table's object, immutable) and backend: two compares, no lookups.
            router_text = self._last_router_text
        else:
            router_text = self._router_text(route, server_url)
        statuses = self._statuses.get(status)
        if statuses is None:
            code = str(status)
            statuses = (f',"DownstreamStatus":{code},"Duration":', f',"OriginStatus":{code},"Overhead":')
            remember(self._statuses, status, statuses, 256)
        fraction = self._start_fraction(now_ns - dur_ns)
        now_sec = now_ns // _NANOS
        if now_sec != self._tail_sec or entry_point != self._tail_entry_point:
            self._tail = (
                f'Z","entryPointName":"{entry_point}","level":"info","msg":"","time":"{self._time_text(now_ns)}"}}\n'
            )
            self._tail_sec = now_sec
            self._tail_entry_point = entry_point
        sent = _number(nbytes)  # each number is turned into text once
        line = (
            f"{client_fields}{sent}{statuses[0]}{dur_ns},"
            f'"OriginContentSize":{sent},"OriginDuration":{origin_ns}{statuses[1]}{dur_ns - origin_ns}'
            f'{known[3]}{_number(size)},"RequestCount":{count}{known[4]}{method}","RequestPath":"{path}{known[5]}'
            f"{protocol[1] if req.tls else protocol[0]}{_number(retries)}{router_text}"
            f"{self._local_start}{fraction}{self._start_middle}{fraction}{self._tail}"
        )
        return line

    def _router_text(self, route: MatchedRoute, server_url: str) -> str:
        # The usual line's RouterName to ServiceURL for this router, backend and service (quoted by orjson once),
        # remembered by router name and backend, the service checked; kept as the previous line's too.
        service = route.service
        by_server = self._segments.get(route.name)
        if by_server is None:
            by_server = {}
            remember(self._segments, route.name, by_server, _MEMO_LIMIT)
        cached = by_server.get(server_url)
        if cached is None or cached[0] != service:
            addr = service_addr(server_url)
            segment = (
                f',"RouterName":{_quoted(route.name)},"ServiceAddr":{_quoted(addr)},'
                f'"ServiceName":{_quoted(service)},"ServiceURL":{_quoted(server_url)},"StartLocal":"'
            )
            cached = (service, segment)
            remember(by_server, server_url, cached, 64)
        self._last_route = route
        self._last_server_url = server_url
        self._last_router_text = cached[1]
        return cached[1]

    def _protocol_texts(self, version: str) -> tuple[str, str]:
        # A protocol version's usual-line texts, from RequestProtocol to RetryAttempts, for http and https;
        # remembered when JSON writes them as they are, ("", "") otherwise.
        protocol = PROTOCOLS.get(version) or f"HTTP/{version}"
        if not _plain(protocol):
            return "", ""
        texts = (
            f'{protocol}","RequestScheme":"http","RetryAttempts":',
            f'{protocol}","RequestScheme":"https","RetryAttempts":',
        )
        remember(self._protocols, version, texts, 64)
        return texts

    @staticmethod
    def _client_fields(client_ip: str, port: int) -> str:
        # ClientAddr, ClientHost, ClientPort and ClientUsername of a client without X-Forwarded-For or user; "" when
        # its IP needs escaping (never from a socket, but the line must not depend on that).
        if not _plain(client_ip):
            return ""
        client_port = str(port)
        addr = f"[{client_ip}]:{client_port}" if ":" in client_ip else f"{client_ip}:{client_port}"
        return (
            f'{{"ClientAddr":"{addr}","ClientHost":"{client_ip}","ClientPort":"{client_port}","ClientUsername":"-",'
            '"DownstreamContentSize":'
        )

    def _host_parts(self, host: str) -> tuple[str, str, bool, str, str, str]:
        # A Host's parts (Go's SplitHostPort, Traefik's fallback), whether JSON writes it as it is, and the usual
        # line's texts holding them (RequestAddr, RequestHost, RequestPort with the keys around), remembered.
        known = self._hosts.get(host)
        if known is None:
            name, port = split_host_port(host)
            known = (
                name,
                port,
                _plain(host),
                f',"RequestAddr":"{host}","RequestContentSize":',
                f',"RequestHost":"{name}","RequestMethod":"',
                f'","RequestPort":"{port}","RequestProtocol":"',
            )
            remember(self._hosts, host, known, _MEMO_LIMIT)
        return known

    def _start_fraction(self, start_ns: int) -> str:
        # Go's RFC3339Nano fraction of the start instant (nine digits, trailing zeros removed, nothing when zero);
        # the start second's texts are refreshed when it changes.
        start_sec = start_ns // _NANOS  # native int operations; divmod() and a big product are generic calls
        if start_sec != self._start_sec:
            self._utc_start, self._local_start, self._local_offset = self._seconds.start(start_sec)
            self._start_middle = f'{self._local_offset}","StartUTC":"{self._utc_start}'
            self._start_sec = start_sec
        return _fraction(start_ns % _NANOS)

    def _time_text(self, now_ns: int) -> str:
        # logrus' "time" (RFC 3339, local), formatted once per second.
        now_sec = now_ns // _NANOS
        if now_sec != self._now_sec:
            self._now_text = self._seconds.rfc3339(now_sec)
            self._now_sec = now_sec
        return self._now_text

    def _remember_plain(self, name: str) -> bool:
        # A method or entry point name needing no escape, remembered: few distinct ones reach a process (bounded).
        if not _plain(name):
            return False
        if len(self._safe_names) >= 256:
            self._safe_names.clear()
        self._safe_names.add(name)
        return True
