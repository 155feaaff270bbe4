"""The PROXY header parser (``server/proxy_header.py``): round trips, the spec's edges, and any bytes at all."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hanzo_edge.server.proxy_header import (
    V1_MAX_LENGTH,
    V2_SIGNATURE,
    ProxyHeader,
    ProxyHeaderError,
    Scan,
    encode_v1,
    encode_v2,
    scan,
)

ports = st.integers(0, 65535)
ipv4 = st.ip_addresses(v=4).map(str)
ipv6 = st.ip_addresses(v=6).map(str)
addresses = st.one_of(st.tuples(ipv4, ipv4), st.tuples(ipv6, ipv6))
tlvs = st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=40))).map(
    lambda items: b"".join(bytes([kind]) + len(value).to_bytes(2, "big") + value for kind, value in items)
)


@given(addresses, ports, ports, st.binary(max_size=64), st.sampled_from([1, 2]), tlvs)
def test_every_valid_header_round_trips_and_leaves_what_follows(pair, sport, dport, after, version, extra):
    source, destination = (pair[0], sport), (pair[1], dport)
    wire = encode_v1(source, destination) if version == 1 else encode_v2(source, destination, extra)
    found = scan(wire + after)
    assert found == ProxyHeader(version, source, destination, len(wire))
    for cut in range(len(wire)):
        assert scan(wire[:cut]) is Scan.MORE, "every strict prefix of a header asks for more"


@given(st.binary(max_size=300))
def test_any_bytes_parse_or_are_rejected_by_the_parser_error_only(data):
    try:
        found = scan(data)
    except ProxyHeaderError:
        return
    if isinstance(found, ProxyHeader):
        assert 0 < found.length <= len(data)
        if found.source is not None:
            ipaddress.ip_address(found.source[0])


@given(st.binary(max_size=40))
def test_mutated_v2_headers_never_escape_the_parser(noise):
    header = encode_v2(("203.0.113.7", 1), ("198.51.100.1", 2))
    for index in range(12, len(header)):
        mutated = header[:index] + noise + header[index + len(noise) :]
        try:
            scan(mutated)
        except ProxyHeaderError:
            pass


def test_what_is_no_header_is_absent():
    assert scan(b"GET / HTTP/1.1\r\n") is Scan.ABSENT
    assert scan(b"PUT / HTTP/1.1\r\n") is Scan.ABSENT
    assert scan(b"\x16\x03\x01\x02\x00") is Scan.ABSENT  # a TLS ClientHello
    assert scan(b"\r\n\r\nGET") is Scan.ABSENT
    assert scan(b"") is Scan.MORE
    assert scan(b"PRO") is Scan.MORE
    assert scan(V2_SIGNATURE[:7]) is Scan.MORE


def test_v1_unknown_and_v2_local_carry_no_client():
    assert scan(b"PROXY UNKNOWN whatever\r\nGET") == ProxyHeader(1, None, None, 24)
    local = encode_v2(None, None, b"\x04\x00\x01x")
    assert scan(local) == ProxyHeader(2, None, None, len(local))
    unspec = V2_SIGNATURE + b"\x21\x00\x00\x00"
    assert scan(unspec) == ProxyHeader(2, None, None, 16)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"PROXY TCP4 " + b"1" * V1_MAX_LENGTH, "without CRLF"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", "CRLF"),
        (b"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", "unknown family"),
        (b"PROXY TCP4 ::1 ::1 1 2\r\n", "invalid TCP4"),
        (b"PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n", "invalid TCP6"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", "needs source"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n", "invalid port"),
        (b"PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n", "is not"),
        (V2_SIGNATURE + b"\x11\x11\x00\x0c" + bytes(12), "version 1"),
        (V2_SIGNATURE + b"\x22\x11\x00\x0c" + bytes(12), "unknown command"),
        (V2_SIGNATURE + b"\x21\x41\x00\x0c" + bytes(12), "family"),
        (V2_SIGNATURE + b"\x21\x13\x00\x0c" + bytes(12), "family"),
        (V2_SIGNATURE + b"\x21\x11\x00\x04" + bytes(4), "shorter than its addresses"),
        (V2_SIGNATURE + b"\x21\x21\x00\x0c" + bytes(12), "shorter than its addresses"),
    ],
)
def test_broken_headers_are_rejected(data, reason):
    with pytest.raises(ProxyHeaderError, match=reason):
        scan(data)


def test_a_v2_length_that_promises_more_waits_for_it():
    header = encode_v2(("203.0.113.7", 1), ("198.51.100.1", 2), b"\x04\x00\x05hello")
    assert scan(header[:-1]) is Scan.MORE
    assert isinstance(scan(header), ProxyHeader)
