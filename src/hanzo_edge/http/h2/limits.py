"""The bounds of one HTTP/2 server connection, and the rate budget that enforces the per-interval ones.

Every limit that keeps a hostile client from costing more than it is worth lives here, with its default, so
``docs/compat.md`` and the threat model can name them and tests can lower them. Nothing here imports ``h2``.

======================================  =====================================================================
limit                                    what it contains
======================================  =====================================================================
``max_concurrent_streams`` (250)         Traefik's ``http2.maxConcurrentStreams``: advertised in SETTINGS; a
                                         stream over it is refused (RST_STREAM REFUSED_STREAM).
``max_header_list_size``                 the request head bound, advertised as SETTINGS_MAX_HEADER_LIST_SIZE:
                                         the entrypoint's ``maxHeaderBytes`` (a head over it is answered 431).
``hpack_hard_limit``                     decoded header list size at which decoding stops (an HPACK bomb):
                                         GOAWAY ENHANCE_YOUR_CALM. 4x the advertised size, at least 64 KiB.
``resets_per_interval`` (200 / 10 s)     client RST_STREAMs (and streams we reset for the client's errors)
                                         before GOAWAY ENHANCE_YOUR_CALM: rapid reset, CVE-2023-44487.
``settings_per_interval`` (100 / 10 s)   SETTINGS frames (each needs an ACK) before GOAWAY ENHANCE_YOUR_CALM.
``pings_per_interval`` (10000 / 10 s)    PING frames (each needs an answer) before GOAWAY ENHANCE_YOUR_CALM;
                                         high because gRPC clients probe bandwidth with PINGs as data flows.
``max_pending_control_bytes`` (64 KiB)   frames we owe a client that does not read (PING/SETTINGS ACKs,
                                         RST_STREAMs): over it the connection is closed.
``stream_send_buffer`` (64 KiB)          response bytes a stream holds while the client's window is shut;
                                         over it the response's upstream is paused.
``window_stall_timeout`` (30 s)          a stream whose response made no progress for this long because the
                                         client's window stayed at zero is reset (RST_STREAM CANCEL); a
                                         connection whose socket is not read for this long is aborted.
``initial_window_size`` (256 KiB)        request bytes a stream may send before its consumer takes them.
``connection_window_size`` (1 MiB)       request bytes all streams of a connection may send ahead together.
======================================  =====================================================================

CONTINUATION floods are bounded by ``h2`` itself: a header block of more than 64 frames is a connection error
(GOAWAY PROTOCOL_ERROR), and a frame larger than SETTINGS_MAX_FRAME_SIZE (16 KiB) is one too (FRAME_SIZE_ERROR).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["EventBudget", "H2Limits"]


@dataclass(frozen=True, slots=True)
class H2Limits:
    """The HTTP/2 limits of one entrypoint (see the module docstring for what each contains)."""

    max_concurrent_streams: int = 250
    header_table_size: int = 4096
    """``http2.maxDecoderHeaderTableSize``: the HPACK table size we advertise for what the client sends."""
    encoder_table_size: int = 4096
    """``http2.maxEncoderHeaderTableSize``: the largest HPACK table we use for responses, whatever the client allows."""
    max_header_list_size: int = 16384
    initial_window_size: int = 256 * 1024
    connection_window_size: int = 1024 * 1024
    resets_per_interval: int = 200
    settings_per_interval: int = 100
    pings_per_interval: int = 10000
    interval: float = 10.0
    max_pending_control_bytes: int = 64 * 1024
    stream_send_buffer: int = 64 * 1024
    window_stall_timeout: float = 30.0

    @property
    def hpack_hard_limit(self) -> int:
        """The decoded header list size at which the connection is cut (an HPACK bomb, not an oversized head)."""
        return max(4 * self.max_header_list_size, 65536)


class EventBudget:
    """At most ``allowed`` events per ``interval`` seconds, as a token bucket that refills continuously.

    :meth:`spend` returns False once the budget is exhausted: the caller ends the connection. A bucket (not a fixed
    window) so that a client cannot double the rate by bursting at a window's edge. ``clock`` is injected.
    """

    __slots__ = ("_clock", "_last", "_rate", "_tokens", "allowed")

    def __init__(self, allowed: int, interval: float, clock: Callable[[], float]) -> None:
        self.allowed = allowed
        self._rate = allowed / interval if interval > 0 else float("inf")
        self._tokens = float(allowed)
        self._clock = clock
        self._last = clock()

    def spend(self) -> bool:
        """Take one event from the budget; False when none is left (the limit fired)."""
        now = self._clock()
        tokens = min(float(self.allowed), self._tokens + (now - self._last) * self._rate)
        self._last = now
        if tokens < 1.0:
            self._tokens = tokens
            return False
        self._tokens = tokens - 1.0
        return True
