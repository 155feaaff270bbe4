"""Review of KrakenD's service keys: Go's header bound includes its 4096-byte slop, and every duration Go reads
becomes a flag our static parser reads (no exponent notation for sub-0.1ms values)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hanzo_edge.config.durations import parse_duration
from hanzo_edge.gateway.document import parse_document
from hanzo_edge.gateway.server import gateway_static
from hanzo_edge.gateway.service_keys import GO_DEFAULT_MAX_HEADER_BYTES, go_duration, static_flags
from hanzo_edge.gateway.translate import ENTRY_POINT

ENDPOINTS = [{"endpoint": "/a", "backend": [{"host": ["http://127.0.0.1:18080"], "url_pattern": "/a"}]}]


def _static(**keys: Any) -> Any:
    doc = parse_document(json.dumps({"version": 3, "endpoints": ENDPOINTS, **keys}), {})
    assert doc.ok, doc.errors
    service = doc.service
    return gateway_static(
        "127.0.0.1", 8080, "INFO", static_flags(service.keys, ENTRY_POINT), service.keys.shutdown_grace()
    )


@pytest.mark.parametrize(
    ("max_header_bytes", "bound"),
    [(8192, 8192 + 4096), (1, 1 + 4096), (0, GO_DEFAULT_MAX_HEADER_BYTES + 4096)],
)
def test_max_header_bytes_keeps_gos_slop(max_header_bytes: int, bound: int) -> None:
    # net/http limits the head's reader to MaxHeaderBytes + 4096 (initialReadLimitSize) before answering 431.
    static = _static(max_header_bytes=max_header_bytes)
    assert static.entry_points[ENTRY_POINT].http.max_header_bytes == bound


def test_unset_max_header_bytes_keeps_our_16k() -> None:
    assert _static().entry_points[ENTRY_POINT].http.max_header_bytes == 16384


@pytest.mark.parametrize("text", ["10us", "1ns", "1µs", "999ns", "1.000001s", "90s", "1h2m3.5s", "3.3ms"])
def test_every_go_duration_becomes_a_flag_the_static_parser_reads(text: str) -> None:
    seconds = parse_duration(text)
    flag = go_duration(seconds)
    assert "e" not in flag.removesuffix("s")
    assert parse_duration(flag) == pytest.approx(seconds, abs=1e-9)


def test_a_microsecond_read_timeout_starts_the_gateway() -> None:
    static = _static(read_timeout="10us", dialer_timeout="500ns")
    timeouts = static.entry_points[ENTRY_POINT].transport.responding_timeouts
    assert timeouts.read_timeout == pytest.approx(10e-6, abs=1e-12)
    assert static.servers_transport.forwarding_timeouts.dial_timeout == pytest.approx(500e-9, abs=1e-12)
