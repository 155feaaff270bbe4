"""Traefik's ``common`` and ``genericCLF`` access-log lines, written out by hand for the compiled build (issue 22).

:func:`formats.clf_renderer` generates a renderer from the field table (:mod:`.fields`) and the format's slots
(:data:`formats.COMMON`, :data:`formats.GENERIC_CLF`) for each configuration; that is the reference and what a
pure-Python process runs. This module computes the same line with the same rules as ordinary typed code that mypyc
compiles with the hot path (``scripts/build_compiled.py``), the way :mod:`.json_line` does for ``json``: there the
attribute reads of the (native) request and the string building cost a few nanoseconds each, and the per-second
start time text is looked up once per second instead of once per line.

It must stay byte-for-byte equal to the generated renderer for every configuration and request:
``tests/property/test_accesslog_common_line_equal.py`` compares the two with Hypothesis, and fails when a CLF format
gains a slot that is not here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from hanzo_edge.observability.accesslog.gofmt import PROTOCOLS, Seconds
from hanzo_edge.observability.accesslog.modes import DROP, REDACT

if TYPE_CHECKING:
    from hanzo_edge.http.messages import Request

__all__ = ["CLF_SLOT_FIELDS", "CommonLine", "compiled"]

_NANOS: Final = 1_000_000_000
_NANOS_FLOAT: Final = 1e9  # compiled, float * int is a generic call and float * float one multiply (same value)
_MILLIS: Final = 1_000_000
_REDACTED: Final = "REDACTED"
_DROP: Final = DROP  # as native constants: the per-line scan compares against them
_REDACT: Final = REDACT
_isascii: Final = str.isascii  # called unbound: compiled, text.isascii() looks the method up per call

CLF_SLOT_FIELDS: Final = (
    ("ClientHost",),
    ("ClientUsername",),
    ("StartUTC", "StartLocal"),
    ("RequestMethod",),
    ("RequestPath",),
    ("RequestProtocol",),
    ("DownstreamStatus",),
    ("DownstreamContentSize",),
    ("request_Referer",),
    ("request_User-Agent",),
    ("RequestCount",),
    ("RouterName",),
    ("ServiceURL",),
    ("Duration",),
)
"""The keys of :data:`formats.COMMON`'s slots, in order, as :class:`CommonLine` prints them (checked by a test);
``genericCLF`` is the first ten."""


def compiled() -> bool:
    """Whether this module runs compiled (mypyc): only then is :class:`CommonLine` the faster renderer."""
    return not __file__.endswith(".py")


def _forwarded_for(raw: list[tuple[bytes, bytes]]) -> str:
    # The first non-empty X-Forwarded-For value, as modes.HeaderModes.scan finds it (a first empty one is passed
    # over there too), without the Host or the header map: the CLF line prints neither.
    for name, value in raw:
        # The usual spelling first: compiled, bytes.lower() is a method looked up per call.
        if len(name) == 15 and value and (name == b"X-Forwarded-For" or name.lower() == b"x-forwarded-for"):
            return value.decode("latin-1")
    return ""


def _logged_headers(raw: list[tuple[bytes, bytes]], referer: int, user_agent: int) -> tuple[str, str, str]:
    """X-Forwarded-For, Referer and User-Agent as ``modes.HeaderModes.scan`` collects them, in one pass.

    ``referer`` and ``user_agent`` are their modes. A logged header's values are joined with ``,``, a redacted one
    is ``REDACTED``; Referer and User-Agent come back as printed between the quotes (``-`` when absent or empty).
    Go's canonical key of a name is ``Referer`` only for a case variant of ``referer`` (any other byte is either
    not a token, which leaves the name as it is, or changes the letters), so the names compare lower-cased.
    """
    xff = ""
    found_referer: str | None = None
    found_agent: str | None = None
    for name, value in raw:
        size = len(name)
        if size == 15:
            if not xff and (name == b"X-Forwarded-For" or name.lower() == b"x-forwarded-for"):
                xff = value.decode("latin-1")
        elif size == 10:
            if user_agent != _DROP and (name == b"User-Agent" or name.lower() == b"user-agent"):
                if user_agent == _REDACT:
                    found_agent = _REDACTED
                elif found_agent is None:
                    found_agent = value.decode("latin-1")
                else:
                    found_agent += "," + value.decode("latin-1")
        elif size == 7 and referer != _DROP and (name == b"Referer" or name.lower() == b"referer"):
            if referer == _REDACT:
                found_referer = _REDACTED
            elif found_referer is None:
                found_referer = value.decode("latin-1")
            else:
                found_referer += "," + value.decode("latin-1")
    return xff, found_referer or "-", found_agent or "-"


class CommonLine:
    """The CLF renderer of one log: ``render(req, status, nbytes, duration, retries, username, count) -> line``.

    ``kept`` are the field keys the log keeps (``fields.names``): a dropped field prints ``-`` (``0`` for
    ``Duration``). ``generic`` selects ``genericCLF`` (the line ends after User-Agent). ``referer`` and
    ``user_agent`` are those headers' modes (:class:`.modes.HeaderModes`); ``request_path`` is the log's query modes
    (:class:`.modes.QueryModes`), called only when it has work to do (``plain_query``: every query parameter is
    kept, so ``RequestPath`` is the target's path as received).
    """

    def __init__(
        self,
        kept: frozenset[str],
        *,
        generic: bool,
        wall_ns: Callable[[], int],
        seconds: Seconds,
        referer: int,
        user_agent: int,
        request_path: Callable[[str], str],
        plain_query: bool,
    ) -> None:
        self._generic = generic
        self._wall_ns = wall_ns
        self._seconds = seconds
        self._referer = referer
        self._user_agent = user_agent
        self._collect_headers = referer != DROP or user_agent != DROP
        self._request_path = request_path
        self._plain_query = plain_query
        self._client_host = "ClientHost" in kept
        self._client_username = "ClientUsername" in kept
        # Traefik prints StartUTC when kept, else StartLocal in local time, else "-".
        self._start_utc = "StartUTC" in kept
        self._start = self._start_utc or "StartLocal" in kept
        self._method = "RequestMethod" in kept
        self._path = "RequestPath" in kept
        self._protocol = "RequestProtocol" in kept
        self._status = "DownstreamStatus" in kept
        self._size = "DownstreamContentSize" in kept
        self._count = "RequestCount" in kept
        self._router = "RouterName" in kept
        self._service_url = "ServiceURL" in kept
        self._duration = "Duration" in kept
        # The last start second and its text (lines come in time order), valid from the start: no second is
        # impossible, so the memo holds a real one rather than a sentinel.
        self._start_sec = 0
        self._start_text = seconds.clf(0, self._start_utc) if self._start else ""

    def render(
        self, req: Request, status: int, nbytes: int, duration: float, retries: int, username: str, count: int
    ) -> bytes:
        """Return ``req``'s line, newline included (``retries`` is not printed by CLF)."""
        return self.render_at(req, status, nbytes, duration, username, count, self._wall_ns())

    def now(self) -> int:
        """The log's wall clock, in nanoseconds (what a line written now says)."""
        return self._wall_ns()

    def render_at(
        self, req: Request, status: int, nbytes: int, duration: float, username: str, count: int, now_ns: int
    ) -> bytes:
        """Return ``req``'s line as written at ``now_ns`` (the wall clock when the request was observed)."""
        return self._text(req, status, nbytes, duration, username, count, now_ns).encode()

    def line_at(
        self, req: Request, status: int, nbytes: int, duration: float, username: str, count: int, now_ns: int
    ) -> str | bytes:
        """:meth:`render_at`'s line, as text when it is ASCII (the batch joins those and encodes them once: no
        encoding can fail there), else encoded here (UTF-8; a lone surrogate raises, as the generated renderer does)."""
        text = self._text(req, status, nbytes, duration, username, count, now_ns)
        return text if _isascii(text) else text.encode()

    def _text(
        self, req: Request, status: int, nbytes: int, duration: float, username: str, count: int, now_ns: int
    ) -> str:
        dur_ns = int(duration * _NANOS_FLOAT)
        xff = ""
        referer = user_agent = "-"
        if self._collect_headers:
            xff, referer, user_agent = _logged_headers(req.headers.raw, self._referer, self._user_agent)
        elif self._client_host:
            xff = _forwarded_for(req.headers.raw)
        client = (xff or req.client_ip or "-") if self._client_host else "-"
        user = (username or "-") if self._client_username else "-"
        start = self._start_clf(now_ns - dur_ns) if self._start else "-"
        method = (req.method or "-") if self._method else "-"
        path = "-"
        if self._path:
            target = req.target
            if self._plain_query and (target[:1] == "/" or target == "*"):
                path = target or "-"  # gofmt.target_path's common case, without the call
            else:
                path = self._request_path(target) or "-"
        protocol = "-"
        if self._protocol:
            version = req.version
            protocol = PROTOCOLS.get(version) or f"HTTP/{version}"
        code = str(status) if self._status else "-"
        sent = str(nbytes) if self._size else "-"
        head = f'{client} - {user} [{start}] "{method} {path} {protocol}" {code} {sent} "{referer}" "{user_agent}"'
        if self._generic:
            return head + "\n"
        router = "-"
        if self._router:
            route = req.route
            if route is not None:
                router = route.name or "-"
        backend = (req.server_url or "-") if self._service_url else "-"
        millis = str(dur_ns // _MILLIS) if self._duration else "0"
        number = str(count) if self._count else "-"
        return f'{head} {number} "{router}" "{backend}" {millis}ms\n'

    def _start_clf(self, start_ns: int) -> str:
        # The start instant's CLF time ("10/Nov/2009:23:00:00 +0000"), refreshed when its second changes.
        start_sec = start_ns // _NANOS
        if start_sec != self._start_sec:
            self._start_text = self._seconds.clf(start_sec, self._start_utc)
            self._start_sec = start_sec
        return self._start_text
