"""Precomputed status lines, Go-style error bodies and a once-a-second ``Date`` header.

Everything here is computed once at import so the hot path only indexes dicts.
"""

from __future__ import annotations

import http
import time
from email.utils import formatdate

__all__ = ["DateHeader", "reason_phrase", "status_line", "status_text"]

_EXTRA_REASONS = {499: "Client Closed Request"}


def status_text(status: int) -> str:
    """Return the reason phrase Go's ``http.StatusText`` gives (plus Traefik's 499); ``""`` when unknown."""
    extra = _EXTRA_REASONS.get(status)
    if extra is not None:
        return extra
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


reason_phrase = status_text

_STATUS_LINES: dict[int, bytes] = {
    code: f"HTTP/1.1 {code} {status_text(code)}\r\n".encode("latin-1") for code in range(100, 600)
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
    return f"HTTP/{version} {status} {reason or status_text(status)}\r\n".encode("latin-1")


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
