"""The ClientHello reader also gives the ALPN protocols a client offers (what TCP routers' ``ALPN`` rules read)."""

from __future__ import annotations

import ssl

from hypothesis import given, settings
from hypothesis import strategies as st

from hanzo_edge.server.client_hello import ClientHello, parse_client_hello


def client_hello(server_name: str, alpn: list[str] | None) -> bytes:
    """The first flight of Python's own TLS client (a real ClientHello)."""
    ctx = ssl.create_default_context()
    if alpn:
        ctx.set_alpn_protocols(alpn)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname=server_name)
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def test_alpn_protocols_are_read_in_the_clients_order() -> None:
    hello = parse_client_hello(client_hello("db.test", ["postgresql", "h2", "http/1.1"]))
    assert isinstance(hello, ClientHello)
    assert (hello.server_name, hello.alpn) == ("db.test", ("postgresql", "h2", "http/1.1"))


def test_no_alpn_extension_gives_no_protocols() -> None:
    hello = parse_client_hello(client_hello("db.test", None))
    assert isinstance(hello, ClientHello)
    assert hello.alpn == ()


_PROTOCOL = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-./", min_size=1, max_size=20)


@settings(max_examples=30, deadline=None)
@given(protocols=st.lists(_PROTOCOL, min_size=1, max_size=6, unique=True))
def test_any_offered_protocol_list_round_trips(protocols: list[str]) -> None:
    hello = parse_client_hello(client_hello("x.test", protocols))
    assert isinstance(hello, ClientHello)
    assert hello.alpn == tuple(protocols)


def test_server_name_is_canonical_as_traefik_reads_it() -> None:
    # Traefik's ConnData (and its certificate lookup) use types.CanonicalDomain: lower-case, no trailing dot, so
    # HostSNI(`db.test`) matches a client that sends the fully qualified "DB.Test.".
    hello = parse_client_hello(client_hello("DB.Test.", None))
    assert isinstance(hello, ClientHello)
    assert hello.server_name == "db.test"
