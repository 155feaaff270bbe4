"""The ClientHello reader: SNI from real ClientHellos (made by ``ssl``), split reads, garbage refused."""

from __future__ import annotations

import ssl

import pytest

from hanzo_edge.server.client_hello import INVALID, NEED_MORE, ClientHello, parse_client_hello


def client_hello(server_name: str | None) -> bytes:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname=server_name)
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    return outgoing.read()


def test_sni_is_read_from_a_real_client_hello() -> None:
    hello = parse_client_hello(client_hello("App.Example.test"))
    assert isinstance(hello, ClientHello)
    assert hello.server_name == "app.example.test"


def test_no_sni_reads_as_empty() -> None:
    hello = parse_client_hello(client_hello(None))
    assert isinstance(hello, ClientHello)
    assert hello.server_name == ""


def test_every_prefix_needs_more_and_the_whole_parses() -> None:
    data = client_hello("a.test")
    for cut in range(len(data)):
        assert parse_client_hello(data[:cut]) == NEED_MORE
    assert isinstance(parse_client_hello(data), ClientHello)


def test_a_hello_split_over_two_records_parses() -> None:
    data = client_hello("split.test")
    payload = data[5:]
    first, second = payload[:40], payload[40:]
    records = b"".join(b"\x16\x03\x01" + len(part).to_bytes(2, "big") + part for part in (first, second))
    hello = parse_client_hello(records)
    assert isinstance(hello, ClientHello)
    assert hello.server_name == "split.test"


@pytest.mark.parametrize(
    "data",
    [
        b"\x16\x03\x01\x00\x08\x02\x00\x00\x04garbage!",  # a ServerHello type
        b"\x16\x03\x01\x00\x00",  # empty record
        b"\x16\x02\x00\x00\x05hello",  # not TLS 1.x framing
        b"\x16\x03\x01\x00\x06\x01\x00\x00\x02\x03\x03",  # a ClientHello body that is too short
    ],
)
def test_garbage_is_invalid(data: bytes) -> None:
    assert parse_client_hello(data) == INVALID
