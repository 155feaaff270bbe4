"""KrakenD's service-level HTTP server and client keys: read with their locations, honoured through the gateway's
static flags (entrypoint timeouts, header limit, drain, the backends' default transport), or named in a warning."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hanzo_edge.config.durations import parse_duration
from hanzo_edge.gateway.document import parse_document
from hanzo_edge.gateway.server import gateway_static
from hanzo_edge.gateway.service_keys import (
    GO_DEFAULT_MAX_HEADER_BYTES,
    GO_HEADER_SLOP,
    LURA_DEFAULT_MAX_IDLE_CONNS_PER_HOST,
    WARNED_KEYS,
    ServiceKeys,
    changed_keys,
    go_duration,
    static_flags,
)
from hanzo_edge.gateway.translate import ENTRY_POINT
from hanzo_edge.http.pool import TransportOptions
from hanzo_edge.routing.build import transport_options

ENDPOINTS = [{"endpoint": "/a", "backend": [{"host": ["http://127.0.0.1:18080"], "url_pattern": "/a"}]}]


def _doc(**keys: Any) -> Any:
    return parse_document(json.dumps({"version": 3, "endpoints": ENDPOINTS, **keys}), {})


def _static(**keys: Any) -> Any:
    doc = _doc(**keys)
    assert doc.ok, doc.errors
    service = doc.service
    return gateway_static(
        "127.0.0.1", 8080, "INFO", static_flags(service.keys, ENTRY_POINT), service.keys.shutdown_grace()
    )


def test_unset_keys_keep_our_entrypoint_defaults_and_luras_idle_pool() -> None:
    static = _static()
    ep = static.entry_points[ENTRY_POINT]
    timeouts = ep.transport.responding_timeouts
    assert (timeouts.read_timeout, timeouts.write_timeout, timeouts.idle_timeout) == (60.0, 0.0, 180.0)
    assert ep.http.max_header_bytes == 16384
    assert ep.transport.life_cycle.grace_time_out == 10.0
    assert static.servers_transport.max_idle_conns_per_host == LURA_DEFAULT_MAX_IDLE_CONNS_PER_HOST


def test_server_keys_reach_the_gateway_entrypoint() -> None:
    static = _static(read_timeout="1500ms", write_timeout="2s", idle_timeout="0.3s", max_header_bytes=4096)
    ep = static.entry_points[ENTRY_POINT]
    timeouts = ep.transport.responding_timeouts
    assert (timeouts.read_timeout, timeouts.write_timeout, timeouts.idle_timeout) == (1.5, 2.0, 0.3)
    assert ep.http.max_header_bytes == 4096 + GO_HEADER_SLOP  # Go's bound: the value plus its bufio slop


def test_go_zero_values_mean_what_go_means() -> None:
    static = _static(read_timeout="0s", write_timeout="0s", max_header_bytes=0, max_idle_connections_per_host=0)
    ep = static.entry_points[ENTRY_POINT]
    timeouts = ep.transport.responding_timeouts
    # 0 is no timeout; IdleTimeout 0 falls back to ReadTimeout (here 0 too: none); MaxHeaderBytes 0 is Go's 1 MB.
    assert (timeouts.read_timeout, timeouts.write_timeout, timeouts.idle_timeout) == (0.0, 0.0, 0.0)
    assert ep.http.max_header_bytes == GO_DEFAULT_MAX_HEADER_BYTES + GO_HEADER_SLOP
    assert static.servers_transport.max_idle_conns_per_host == LURA_DEFAULT_MAX_IDLE_CONNS_PER_HOST


@pytest.mark.parametrize(
    ("keys", "idle"),
    [
        ({"read_timeout": "2s"}, 2.0),  # idle unset: Go uses ReadTimeout
        ({"read_timeout": "2s", "idle_timeout": "0s"}, 2.0),
        ({"idle_timeout": "0s"}, 60.0),  # idle 0, read unset: the read timeout in effect (ours)
        ({"read_timeout": "2s", "idle_timeout": "5s"}, 5.0),
        ({}, 180.0),
    ],
)
def test_idle_timeout_falls_back_to_the_read_timeout_as_in_go(keys: dict[str, str], idle: float) -> None:
    assert _static(**keys).entry_points[ENTRY_POINT].transport.responding_timeouts.idle_timeout == idle


def test_client_keys_reach_the_default_transport_of_the_backends() -> None:
    static = _static(
        max_idle_connections_per_host=7,
        dialer_timeout="1s",
        response_header_timeout="250ms",
        idle_connection_timeout="0s",
        allow_insecure_connections=True,
    )
    options = transport_options(static.servers_transport)
    assert options == TransportOptions(
        max_idle_conns_per_host=7,
        dial_timeout=1.0,
        response_header_timeout=0.25,
        idle_conn_timeout=0.0,
        insecure_skip_verify=True,
    )


def test_disable_keep_alives_keeps_no_idle_backend_connection() -> None:
    static = _static(disable_keep_alives=True, max_idle_connections_per_host=9)
    assert transport_options(static.servers_transport).max_idle_conns_per_host == -1


def test_max_shutdown_wait_time_bounds_the_drain_of_every_entrypoint() -> None:
    doc = _doc(max_shutdown_wait_time="1.5s")
    keys = doc.service.keys
    # A second entrypoint (the telemetry metrics listener) must not keep its 10s: the process waits for the longest.
    extra = [*static_flags(keys, ENTRY_POINT), "--entrypoints.metrics.address=127.0.0.1:8090"]
    static = gateway_static("127.0.0.1", 8080, "INFO", extra, keys.shutdown_grace())
    assert {name: ep.transport.life_cycle.grace_time_out for name, ep in static.entry_points.items()} == {
        ENTRY_POINT: 1.5,
        "metrics": 1.5,
    }


@pytest.mark.parametrize("value", ["0s", None])
def test_zero_or_unset_shutdown_wait_keeps_our_drain(value: str | None) -> None:
    keys = {} if value is None else {"max_shutdown_wait_time": value}
    assert _static(**keys).entry_points[ENTRY_POINT].transport.life_cycle.grace_time_out == 10.0


def test_each_key_without_counterpart_is_warned_at_its_path() -> None:
    values: dict[str, Any] = {
        "read_header_timeout": "1s",
        "max_idle_connections": 10,
        "expect_continue_timeout": "1s",
        "dialer_fallback_delay": "300ms",
    }
    assert set(values) == set(WARNED_KEYS)
    doc = _doc(**values)
    assert doc.ok
    warned = {w.path: w.message for w in doc.warnings}
    for key in values:
        assert (key,) in warned, key
        assert warned[(key,)].startswith(f"{key} is not honoured by hanzo-edge gateway: ")
        assert doc.locate((key,)), key


def test_go_zero_values_of_warned_keys_need_no_warning() -> None:
    doc = _doc(
        read_header_timeout="0s",
        max_idle_connections=0,
        expect_continue_timeout="0s",
        dialer_fallback_delay="0s",
        dialer_keep_alive="0s",
        disable_compression=False,
    )
    assert doc.ok
    assert doc.warnings == []


def test_honoured_keys_give_no_warning() -> None:
    doc = _doc(
        read_timeout="1s",
        write_timeout="1s",
        idle_timeout="1s",
        max_header_bytes=2048,
        disable_keep_alives=True,
        max_idle_connections_per_host=3,
        idle_connection_timeout="1s",
        response_header_timeout="1s",
        dialer_timeout="1s",
        max_shutdown_wait_time="1s",
        allow_insecure_connections=True,
        dialer_keep_alive="15s",
        disable_compression=True,
    )
    assert doc.ok
    assert doc.warnings == []


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("read_timeout", "soon", "invalid duration"),
        ("dialer_timeout", "-1s", "negative"),
        ("max_header_bytes", -1, "out of range"),
        ("max_header_bytes", "1MB", "want an integer"),
        ("disable_keep_alives", "yes", "want true or false"),
        ("allow_insecure_connections", 1, "want true or false"),
        ("dialer_keep_alive", "often", "invalid duration"),
    ],
)
def test_bad_values_are_located_errors(key: str, value: Any, message: str) -> None:
    doc = _doc(**{key: value})
    assert not doc.ok
    errors = [e for e in doc.errors if e.path == (key,)]
    assert errors, doc.errors
    assert message in errors[0].message.lower() or message in errors[0].message


def test_changed_keys_names_what_a_reload_cannot_apply() -> None:
    running = _doc(read_timeout="1s", dialer_timeout="1s").service.keys
    new = _doc(read_timeout="2s", dialer_timeout="1s", disable_keep_alives=True).service.keys
    assert changed_keys(running, new) == ["read_timeout", "disable_keep_alives"]
    assert changed_keys(running, running) == []
    assert changed_keys(ServiceKeys(), _doc().service.keys) == []


@given(st.integers(min_value=0, max_value=10**9).map(lambda ms: ms / 1000))
def test_go_duration_round_trips_through_the_flag_parser(seconds: float) -> None:
    assert parse_duration(go_duration(seconds)) == pytest.approx(seconds, abs=1e-9)
