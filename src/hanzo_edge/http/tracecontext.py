"""W3C Trace Context propagation (``traceparent``), hand-written because it runs on every proxied request.

A valid incoming ``traceparent`` (``00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>``) is forwarded upstream
with the same trace id and flags and a **new parent (span) id**, so the backend's spans hang under this hop even with
tracing off. ``tracestate`` is forwarded unchanged. An invalid ``traceparent`` is dropped (W3C: restart the trace),
never forwarded as it came.
"""

from __future__ import annotations

from random import getrandbits

__all__ = ["child_traceparent", "parse_traceparent"]

_HEX = frozenset(b"0123456789abcdef")


def parse_traceparent(value: bytes) -> tuple[bytes, bytes, bytes] | None:
    """Return ``(trace_id, parent_id, flags)`` of a valid version-00 (or later) ``traceparent``, else None."""
    value = value.strip()
    if len(value) < 55 or value[2:3] != b"-" or value[35:36] != b"-" or value[52:53] != b"-":
        return None
    version, trace_id, parent_id, flags = value[:2], value[3:35], value[36:52], value[53:55]
    if version == b"ff" or (version == b"00" and len(value) != 55):
        return None
    if not (_HEX.issuperset(version + trace_id + parent_id + flags)):
        return None
    if trace_id == b"0" * 32 or parent_id == b"0" * 16:
        return None
    return trace_id, parent_id, flags


def child_traceparent(value: bytes) -> bytes | None:
    """Return the ``traceparent`` to send upstream for an incoming one (a fresh span id), or None if it is invalid."""
    parsed = parse_traceparent(value)
    if parsed is None:
        return None
    trace_id, _, flags = parsed
    span = getrandbits(64) or 1
    return b"00-%b-%016x-%b" % (trace_id, span, flags)
