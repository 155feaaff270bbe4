"""The PROXY stage (``server/proxy_protocol.py``) on real uvloop sockets: what it hands on, and what it never reads.

The next stage (TLS) must find every byte after the header still unread: the handoff gets no bytes, whether the
header arrived with the data after it or in pieces. A stalled header joins the entrypoint's deadline ticker.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import uvloop

from hanzo_edge.http.forwarded import ForwardedHeaders
from hanzo_edge.http.messages import Handler, Request
from hanzo_edge.http.settings import ConnectionContext, EntrypointSettings
from hanzo_edge.server.entrypoint import hand_over
from hanzo_edge.server.listener import Listener
from hanzo_edge.server.proxy_header import encode_v1, encode_v2
from hanzo_edge.server.proxy_protocol import (
    ClientAddressTransport,
    ProxyProtocolStage,
    TrustedPeers,
    socket_transport,
)

CLIENT = ("203.0.113.7", 40001)
EDGE = ("198.51.100.1", 443)
CLIENT_HELLO = b"\x16\x03\x01\x00\x05hello"


def no_route(req: Request) -> Handler:
    raise LookupError(req)


class Sink(asyncio.Protocol):
    """The rest of the chain: records the bytes it reads from the socket itself."""

    def __init__(self) -> None:
        self.data = b""
        self.arrived = asyncio.Event()

    def data_received(self, data: bytes) -> None:
        self.data += data
        self.arrived.set()


class Handoffs:
    """The handoff the stage calls: records (transport, already_read) and gives the connection to a Sink."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, bytes]] = []
        self.sink = Sink()
        self.done = asyncio.Event()

    def __call__(self, transport: asyncio.Transport, already_read: bytes) -> None:
        self.calls.append((transport, already_read))
        hand_over(transport, self.sink, already_read)
        self.done.set()


async def serve(trusted: TrustedPeers, read_timeout: float = 5.0) -> tuple[Listener, ConnectionContext, Handoffs]:
    loop = asyncio.get_running_loop()
    settings = EntrypointSettings(read_timeout=read_timeout, forwarded=ForwardedHeaders(server="edge-test"))
    ctx = ConnectionContext(settings, no_route, loop)
    handoffs = Handoffs()
    stage = ProxyProtocolStage(ctx, trusted)
    listener = Listener(ctx, "127.0.0.1", 0, protocol_factory=lambda: stage.begin(handoffs))
    await listener.start()
    return listener, ctx, handoffs


async def until(predicate: Any) -> None:
    while not predicate():
        await asyncio.sleep(0.005)


def test_the_bytes_after_a_header_stay_unread_for_the_next_stage() -> None:
    async def scenario() -> None:
        listener, ctx, handoffs = await serve(TrustedPeers(insecure=True))
        _, writer = await asyncio.open_connection("127.0.0.1", listener.port)
        try:
            writer.write(encode_v2(CLIENT, EDGE) + CLIENT_HELLO)
            await asyncio.wait_for(handoffs.done.wait(), 10)
            await asyncio.wait_for(until(lambda: len(handoffs.sink.data) >= len(CLIENT_HELLO)), 10)
        finally:
            writer.close()
            listener.stop_accepting()
            ctx.stop()
        ((transport, already_read),) = handoffs.calls
        assert already_read == b""
        assert handoffs.sink.data == CLIENT_HELLO, "the sink read them from the socket, not from the stage"
        assert isinstance(transport, ClientAddressTransport)
        assert transport.get_extra_info("peername") == CLIENT
        assert transport.get_extra_info("proxy_header").destination == EDGE
        assert socket_transport(transport) is transport.inner
        assert transport.write == transport.inner.write, "writes go straight to the socket transport"

    uvloop.run(scenario())


def test_a_header_in_pieces_is_waited_for_and_the_rest_left_unread() -> None:
    async def scenario() -> None:
        listener, ctx, handoffs = await serve(TrustedPeers(trusted_ips=("127.0.0.0/8",)))
        header = encode_v1(CLIENT, EDGE)
        client = socket.create_connection(("127.0.0.1", listener.port))
        client.setblocking(False)
        try:
            client.send(header[:9])
            await asyncio.wait_for(until(lambda: bool(ctx.connections)), 10)  # waiting: a Connection of the ctx
            client.send(header[9:] + CLIENT_HELLO)
            await asyncio.wait_for(handoffs.done.wait(), 10)
            await asyncio.wait_for(until(lambda: len(handoffs.sink.data) >= len(CLIENT_HELLO)), 10)
            assert not ctx.connections, "the stage left the deadline ticker when it handed over"
        finally:
            client.close()
            listener.stop_accepting()
            ctx.stop()
        ((transport, already_read),) = handoffs.calls
        assert already_read == b""
        assert handoffs.sink.data == CLIENT_HELLO
        assert transport.get_extra_info("peername") == CLIENT

    uvloop.run(scenario())


def test_no_header_hands_on_the_socket_transport_itself_and_untrusted_headers_are_dropped() -> None:
    async def scenario() -> None:
        listener, ctx, handoffs = await serve(TrustedPeers(trusted_ips=("10.0.0.0/8",)))
        _, writer = await asyncio.open_connection("127.0.0.1", listener.port)
        _, writer2 = await asyncio.open_connection("127.0.0.1", listener.port)
        try:
            writer.write(CLIENT_HELLO)
            await asyncio.wait_for(handoffs.done.wait(), 10)
            handoffs.done.clear()
            writer2.write(encode_v1(CLIENT, EDGE) + b"GET")
            await asyncio.wait_for(handoffs.done.wait(), 10)
            await asyncio.wait_for(until(lambda: handoffs.sink.data.endswith(b"GET")), 10)
        finally:
            writer.close()
            writer2.close()
            listener.stop_accepting()
            ctx.stop()
        (plain, _), (untrusted, already_read) = handoffs.calls
        assert not isinstance(plain, ClientAddressTransport)
        assert not isinstance(untrusted, ClientAddressTransport), "an untrusted header is not honoured"
        assert untrusted.get_extra_info("peername")[0] == "127.0.0.1"
        assert already_read == b""
        assert b"PROXY" not in handoffs.sink.data, "and its bytes never reach the next stage"

    uvloop.run(scenario())


def test_a_stalled_header_is_closed_by_the_deadline_ticker() -> None:
    async def scenario() -> None:
        listener, ctx, handoffs = await serve(TrustedPeers(insecure=True), read_timeout=0.1)
        reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
        try:
            writer.write(b"PROXY TCP4 203.0.1")
            assert await asyncio.wait_for(reader.read(), 10) == b"", "closed without an answer"
        finally:
            writer.close()
            listener.stop_accepting()
            ctx.stop()
        assert not handoffs.calls
        assert not ctx.connections

    uvloop.run(scenario())
