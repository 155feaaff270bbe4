"""Precomputed status lines, Go-style error bodies and a once-a-second ``Date`` header.

Everything here is computed once at import so the hot path only indexes dicts.
"""

from __future__ import annotations

import time
from email.utils import formatdate

__all__ = ["DateHeader", "status_line", "status_text"]

# Go's net/http StatusText table (what Traefik writes), plus Traefik's 499.
_GO_STATUS_TEXT = {
    100: "Continue", 101: "Switching Protocols", 102: "Processing", 103: "Early Hints",
    200: "OK", 201: "Created", 202: "Accepted", 203: "Non-Authoritative Information", 204: "No Content",
    205: "Reset Content", 206: "Partial Content", 207: "Multi-Status", 208: "Already Reported", 226: "IM Used",
    300: "Multiple Choices", 301: "Moved Permanently", 302: "Found", 303: "See Other", 304: "Not Modified",
    305: "Use Proxy", 307: "Temporary Redirect", 308: "Permanent Redirect",
    400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 406: "Not Acceptable", 407: "Proxy Authentication Required",
    408: "Request Timeout", 409: "Conflict", 410: "Gone", 411: "Length Required", 412: "Precondition Failed",
    413: "Request Entity Too Large", 414: "Request URI Too Long", 415: "Unsupported Media Type",
    416: "Requested Range Not Satisfiable", 417: "Expectation Failed", 418: "I'm a teapot",
    421: "Misdirected Request", 422: "Unprocessable Entity", 423: "Locked", 424: "Failed Dependency",
    425: "Too Early", 426: "Upgrade Required", 428: "Precondition Required", 429: "Too Many Requests",
    431: "Request Header Fields Too Large", 451: "Unavailable For Legal Reasons", 499: "Client Closed Request",
    500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable",
    504: "Gateway Timeout", 505: "HTTP Version Not Supported", 506: "Variant Also Negotiates",
    507: "Insufficient Storage", 508: "Loop Detected", 510: "Not Extended", 511: "Network Authentication Required",
}  # fmt: skip


def status_text(status: int) -> str:
    """Return Go's ``http.StatusText`` for ``status`` (plus Traefik's 499); ``""`` when unknown."""
    return _GO_STATUS_TEXT.get(status, "")


_STATUS_LINES: dict[int, bytes] = {
    code: f"HTTP/1.1 {code} {text}\r\n".encode("latin-1") for code, text in _GO_STATUS_TEXT.items()
}
_STATUS_LINES_10: dict[int, bytes] = {code: b"HTTP/1.0" + line[8:] for code, line in _STATUS_LINES.items()}


def status_line(status: int, reason: str | None = None, http10: bool = False) -> bytes:
    """Return ``HTTP/1.1 <status> <reason>\\r\\n`` (``HTTP/1.0`` for 1.0 clients, as Go answers; cached).

    Like Go, the standard reason phrase is always used; ``reason`` only fills in for non-standard codes.
    """
    line = (_STATUS_LINES_10 if http10 else _STATUS_LINES).get(status)
    if line is not None:
        return line
    version = "1.0" if http10 else "1.1"
    # Go writes "status code N" for a code it has no text for.
    return f"HTTP/{version} {status} {reason or f'status code {status}'}\r\n".encode("latin-1")


class DateHeader:
    """The current ``Date: …\\r\\n`` header line, recomputed at most once a second."""

    __slots__ = ("_line", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._line = b""

    def line(self) -> bytes:
        """Return the header line for the current second."""
        now = int(time.time())
        if now != self._second:
            self._second = now
            self._line = b"Date: " + formatdate(now, usegmt=True).encode("ascii") + b"\r\n"
        return self._line


DATE = DateHeader()
