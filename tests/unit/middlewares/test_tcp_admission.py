"""TCP middlewares (``middlewares/tcp_admission.py``): Traefik's build errors, and what each admits."""

from __future__ import annotations

import pytest

from hanzo_edge.config.tcp import TCPInFlightConn, TCPIPAllowList, TCPMiddleware
from hanzo_edge.middlewares.tcp_admission import admit, build_admission


@pytest.mark.parametrize(
    ("source_range", "message"),
    [
        # Traefik pkg/middlewares/tcp/ipallowlist: the same words as the HTTP middleware's, Go's %s of a []string.
        ((), "sourceRange is empty, IPAllowLister not created"),
        (("10.0.0.0/8", "10.0.0.0/33"), "cannot parse CIDRs [10.0.0.0/8 10.0.0.0/33]: "),
    ],
)
def test_ip_allow_list_errors_are_traefiks(source_range: tuple[str, ...], message: str) -> None:
    with pytest.raises(ValueError) as raised:
        build_admission("only@file", TCPMiddleware(ip_allow_list=TCPIPAllowList(source_range=source_range)))
    assert str(raised.value).startswith(message)


def test_allow_list_and_in_flight_conn_admit_and_release() -> None:
    allow = build_admission("only@file", TCPMiddleware(ip_allow_list=TCPIPAllowList(source_range=("10.0.0.0/8",))))
    one = build_admission("one@file", TCPMiddleware(in_flight_conn=TCPInFlightConn(amount=1)))
    assert admit((allow,), "192.168.1.1") is None
    held = admit((allow, one), "10.1.1.1")
    assert held is not None
    assert admit((allow, one), "10.1.1.1") is None  # the second one from that IP is refused
    assert admit((allow, one), "10.2.2.2") is not None  # per source IP
    for release in held:
        release()
    assert admit((allow, one), "10.1.1.1") is not None


def test_in_flight_conn_amount_zero_refuses_every_connection_as_traefik() -> None:
    # Traefik builds it whatever the amount and closes each connection over it; refusing the configuration instead
    # disabled the router, so its connections fell through to other routers (or HTTP) rather than being closed.
    none = build_admission("none@file", TCPMiddleware(in_flight_conn=TCPInFlightConn(amount=0)))
    assert admit((none,), "10.1.1.1") is None
