"""Review of the highestRandomWeight service: the score is computed in Go's order of operations, and the client key
is the address as Go's RemoteAddr writes it (an IPv4-mapped address from a PROXY header is the IPv4 address)."""

from __future__ import annotations

import ipaddress
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from services_fakes import Child

from hanzo_edge.services.hrw import HighestRandomWeight, go_ip, node_score

_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3


def _go_node_score(src: str, name: str, weight: int) -> float:
    """Traefik's getNodeScore written out step by step: sum/2^64, then 1/-ln, then times the weight."""
    state = _FNV_OFFSET
    for byte in (src + name).encode():
        state = ((state ^ byte) * _FNV_PRIME) % 2**64
    score = float(state) / math.pow(2, 64)
    log_score = 1.0 / -math.log(score)
    return log_score * float(weight)


@settings(max_examples=300, deadline=None)
@given(
    ip=st.builds(lambda n: str(ipaddress.IPv4Address(n)), st.integers(0, 2**32 - 1)),
    name=st.text("abcdefghij-@.", min_size=1, max_size=20),
    weight=st.integers(1, 1000),
)
def test_the_score_is_bit_for_bit_traefiks(ip: str, name: str, weight: int) -> None:
    # weight / -ln(u) and (1 / -ln(u)) * weight differ in the last bit for most weights other than 1.
    assert node_score(ip, name, float(weight)) == _go_node_score(ip, name, weight)


def test_a_known_case_where_the_order_of_operations_matters() -> None:
    ip, name, weight = "10.0.78.30", "svc", 13
    assert node_score(ip, name, float(weight)) == _go_node_score(ip, name, weight)


@pytest.mark.parametrize(
    ("python_form", "go_form"),
    [
        ("::ffff:102:304", "1.2.3.4"),
        ("::ffff:10.1.2.3", "10.1.2.3"),
        ("1.2.3.4", "1.2.3.4"),
        ("2001:db8::1", "2001:db8::1"),
        ("::ffff:1:2:3", "::ffff:1:2:3"),  # not a mapped address: kept
        ("::ffff:zz", "::ffff:zz"),  # not an address at all: kept as Go keeps an unparsable RemoteAddr
    ],
)
def test_go_ip_writes_a_mapped_address_as_go_does(python_form: str, go_form: str) -> None:
    assert go_ip(python_form) == go_form


def test_a_client_behind_a_proxy_header_with_a_mapped_address_lands_where_its_ipv4_address_lands() -> None:
    names = [f"svc-{n}@file" for n in range(5)]
    balancer = HighestRandomWeight([(n, 1.0, Child(n)) for n in names], "h@file")
    for n in range(64):
        ipv4 = f"192.0.2.{n}"
        mapped = str(ipaddress.IPv6Address(f"::ffff:{ipv4}"))  # what our PROXY stage hands over (::ffff:c000:2xx)
        assert balancer.pick(mapped) is balancer.pick(ipv4)
