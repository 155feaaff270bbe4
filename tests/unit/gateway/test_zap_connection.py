"""The ZAP connection protocol on real sockets in one event loop: piping, half-close both ways, backpressure both
ways, the handshake deadline, an unreachable internal node, graceful drain."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import trustme

from hanzo_edge.gateway.zap.client import ZapClient, open_zap
from hanzo_edge.gateway.zap.connection import ZapConnection, ZapTarget
from hanzo_edge.gateway.zap.contexts import PQ_GROUP, client_context, server_context
from hanzo_edge.gateway.zap.tls_engine import TlsFailure
from hanzo_edge.http.settings import ConnectionContext, EntrypointSettings
from hanzo_edge.server.listener import Listener

Scenario = Callable[["World"], Awaitable[None]]


@pytest.fixture(scope="module")
def pems(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("zap-conn")
    ca = trustme.CA()
    leaf = ca.issue_cert("zap.test")
    leaf.cert_chain_pems[0].write_to_path(root / "tls.crt")
    leaf.private_key_pem.write_to_path(root / "tls.key")
    ca.cert_pem.write_to_path(root / "ca.pem")
    return {name: str(root / name) for name in ("tls.crt", "tls.key", "ca.pem")}


class Node(asyncio.Protocol):
    """The internal ZAP node: records what arrives and whether it saw the FIN; the test drives its answers."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.transport: asyncio.Transport | None = None
        self.received = bytearray()
        self.eof = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.world.nodes.put_nowait(self)
        self.world.closers.append(transport)
        if self.world.echo:
            return
        if self.world.node_paused:
            transport.pause_reading()  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        self.received += data
        if self.world.echo and self.transport is not None:
            self.transport.write(data)

    def eof_received(self) -> bool:
        if not self.eof.done():
            self.eof.set_result(None)
        if self.world.echo and self.transport is not None:
            self.transport.write_eof()
        return True


class World:
    def __init__(self, pems: dict[str, str]) -> None:
        self.pems = pems
        self.echo = True
        self.node_paused = False
        self.nodes: asyncio.Queue[Node] = asyncio.Queue()
        self.node_server: asyncio.Server | None = None
        self.ctx: ConnectionContext | None = None
        self.listener: Listener | None = None
        self.closers: list[asyncio.BaseTransport] = []  # node and client transports, closed at the end

    async def start(self, *, handshake_timeout: float = 5.0, node_port: int | None = None) -> None:
        loop = asyncio.get_running_loop()
        if node_port is None:
            self.node_server = await loop.create_server(lambda: Node(self), "127.0.0.1", 0)
            node_port = self.node_server.sockets[0].getsockname()[1]
        target = ZapTarget(
            server_context(self.pems["tls.crt"], self.pems["tls.key"]),
            "127.0.0.1",
            node_port,
            handshake_timeout=handshake_timeout,
            dial_timeout=2.0,
        )
        settings = EntrypointSettings(name="zap", read_timeout=handshake_timeout, idle_timeout=0)
        ctx = self.ctx = ConnectionContext(settings, lambda _req: None, loop)  # type: ignore[arg-type,return-value]
        self.listener = Listener(ctx, "127.0.0.1", 0, protocol_factory=lambda: ZapConnection(ctx, target))
        await self.listener.start()

    async def client(self, **kwargs: Any) -> ZapClient:
        assert self.listener is not None
        context = client_context(self.pems["ca.pem"])
        client = await open_zap("127.0.0.1", self.listener.port, context, server_name="zap.test", **kwargs)
        if client.transport is not None:
            self.closers.append(client.transport)
        return client

    def connection(self) -> ZapConnection:
        assert self.ctx is not None
        (conn,) = self.ctx.connections
        assert isinstance(conn, ZapConnection)
        return conn

    async def stop(self) -> None:
        if self.listener is not None:
            self.listener.stop_accepting()
        if self.ctx is not None:
            self.ctx.stop()
        if self.node_server is not None:
            self.node_server.close()
        for transport in self.closers:
            transport.close()
        await asyncio.sleep(0.01)


async def until(predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Poll ``predicate`` on the loop (bounded)."""
    async with asyncio.timeout(timeout):
        while not (value := predicate()):
            await asyncio.sleep(0.005)
    return value


def run(pems: dict[str, str], scenario: Scenario) -> None:
    async def main() -> None:
        world = World(pems)
        try:
            await asyncio.wait_for(scenario(world), 20)
        finally:
            await world.stop()

    asyncio.run(main())


@contextlib.asynccontextmanager
async def raw_connection(port: int) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        yield reader, writer
    finally:
        writer.close()


def test_bytes_cross_to_the_node_and_back_with_the_pq_group(pems: dict[str, str]) -> None:
    async def scenario(world: World) -> None:
        await world.start()
        client = await world.client()
        assert client.group == PQ_GROUP
        payload = bytes(range(256)) * 4096  # 1 MiB
        await client.send(payload)
        await until(lambda: client.received is not None and len(client.received) >= len(payload))
        assert bytes(client.received or b"") == payload
        client.close()

    run(pems, scenario)


def test_client_close_notify_ends_the_node_input_and_the_node_answer_still_arrives(pems: dict[str, str]) -> None:
    async def scenario(world: World) -> None:
        world.echo = False
        await world.start()
        client = await world.client()
        await client.send(b"request")
        node = await world.nodes.get()
        client.close_write()
        await asyncio.wait_for(node.eof, 5)  # the FIN reached the node
        assert bytes(node.received) == b"request"
        assert node.transport is not None
        node.transport.write(b"answer after your close")
        node.transport.write_eof()
        await asyncio.wait_for(client.ended, 5)
        assert bytes(client.received or b"") == b"answer after your close"
        assert client.peer_closed  # the node's FIN became close_notify
        await until(lambda: not world.ctx or not world.ctx.connections)

    run(pems, scenario)


def test_node_fin_becomes_close_notify_and_the_client_can_still_send(pems: dict[str, str]) -> None:
    async def scenario(world: World) -> None:
        world.echo = False
        await world.start()
        client = await world.client()
        await client.send(b"hello")
        node = await world.nodes.get()
        await until(lambda: bytes(node.received) == b"hello")
        assert node.transport is not None
        node.transport.write(b"bye")
        node.transport.write_eof()
        await asyncio.wait_for(client.ended, 5)
        assert client.peer_closed
        assert bytes(client.received or b"") == b"bye"
        await client.send(b" more")
        await until(lambda: bytes(node.received) == b"hello more")
        client.close_write()
        await asyncio.wait_for(node.eof, 5)
        await until(lambda: not world.ctx or not world.ctx.connections)

    run(pems, scenario)


def test_a_node_that_does_not_read_pauses_the_client(pems: dict[str, str]) -> None:
    async def scenario(world: World) -> None:
        world.echo = False
        world.node_paused = True
        await world.start()
        client = await world.client()
        chunk = b"z" * 65536
        sent = 0

        async def flood() -> None:
            nonlocal sent
            while True:
                await client.send(chunk)
                sent += len(chunk)

        flooding = asyncio.ensure_future(flood())
        # Bounded: kernel buffers on two sockets plus the transports' high-water marks, not the 64 MiB sent later.
        await until(lambda: world.connection().paused)
        await asyncio.sleep(0.2)
        assert not flooding.done()
        assert sent < 32 * 1024 * 1024
        held = world.connection().node
        assert held is not None
        assert held.get_write_buffer_size() <= 1024 * 1024
        node = await world.nodes.get()
        assert node.transport is not None
        node.transport.resume_reading()
        target = sent + 4 * len(chunk)
        await until(lambda: sent >= target)  # the client flows again once the node reads
        flooding.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await flooding
        client.close()

    run(pems, scenario)


def test_a_client_that_does_not_read_pauses_the_node(pems: dict[str, str]) -> None:
    async def scenario(world: World) -> None:
        world.echo = False
        await world.start()
        client = await world.client()
        await client.send(b"go")
        node = await world.nodes.get()
        assert client.transport is not None
        assert node.transport is not None
        client.transport.pause_reading()
        chunk = b"y" * 65536
        for _ in range(1024):  # up to 64 MiB; the node's transport must fill long before
            node.transport.write(chunk)
            if node.transport.get_write_buffer_size() > 4 * 1024 * 1024:
                break
            await asyncio.sleep(0)
        conn = world.connection()
        assert conn.client is not None
        assert node.transport.get_write_buffer_size() > 4 * 1024 * 1024  # the listener stopped reading the node
        assert conn.client.get_write_buffer_size() <= 2 * 1024 * 1024
        client.transport.resume_reading()
        node.transport.write_eof()
        await asyncio.wait_for(client.ended, 10)
        assert client.received is not None
        assert len(client.received) > 4 * 1024 * 1024

    run(pems, scenario)


def test_no_handshake_within_the_deadline_closes_the_connection(pems: dict[str, str]) -> None:
    async def scenario(world: World) -> None:
        await world.start(handshake_timeout=0.2)
        assert world.listener is not None
        async with raw_connection(world.listener.port) as (reader, _writer):
            await until(lambda: world.ctx is not None and world.ctx.connections)
            assert await asyncio.wait_for(reader.read(), 3) == b""  # closed by the listener
        assert world.ctx is not None
        assert not world.ctx.connections

    run(pems, scenario)


def test_a_tls12_client_gets_an_alert_and_no_node_connection(pems: dict[str, str]) -> None:
    async def scenario(world: World) -> None:
        await world.start()
        assert world.listener is not None
        with pytest.raises(TlsFailure):
            await open_zap("127.0.0.1", world.listener.port, client_context(verify=False, tls12_only=True))
        await until(lambda: world.ctx is not None and not world.ctx.connections)
        assert world.nodes.empty()

    run(pems, scenario)


def test_an_unreachable_node_closes_the_client(pems: dict[str, str], unused_tcp_port: int) -> None:
    async def scenario(world: World) -> None:
        await world.start(node_port=unused_tcp_port)
        client = await world.client()  # the handshake completes before the node is dialled
        await asyncio.wait_for(client.ended, 5)
        await until(lambda: world.ctx is not None and not world.ctx.connections)

    run(pems, scenario)


def test_a_drain_closes_handshaking_connections_and_waits_for_streams(pems: dict[str, str]) -> None:
    async def scenario(world: World) -> None:
        await world.start()
        assert world.listener is not None
        assert world.ctx is not None
        client = await world.client()
        await client.send(b"x")
        await until(lambda: client.received)
        async with raw_connection(world.listener.port) as (reader, _writer):
            await until(lambda: len(world.ctx.connections) == 2 if world.ctx else False)
            busy = world.ctx.close_idle()
            assert busy == 1  # the streaming one stays
            assert await asyncio.wait_for(reader.read(), 3) == b""
        client.close()

    run(pems, scenario)


@pytest.fixture
def unused_tcp_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_listener_module_registers_into_an_app(pems: dict[str, str], tmp_path: Path) -> None:
    from hanzo_edge.gateway.zap.listener import ZAP_NAME, attach_zap_listener
    from hanzo_edge.gateway.zap.settings import ZapSettings

    class App:
        def __init__(self) -> None:
            self.contexts: dict[str, Any] = {}
            self.listeners: dict[str, Any] = {}

    async def main() -> None:
        app = App()
        settings = ZapSettings(True, 0, pems["tls.crt"], pems["tls.key"], "127.0.0.1", 9)
        listener = await attach_zap_listener(app, settings, "127.0.0.1")  # type: ignore[arg-type]
        assert listener is not None
        assert app.listeners[ZAP_NAME] is listener
        assert ZAP_NAME in app.contexts
        listener.stop_accepting()
        missing = ZapSettings(True, 0, str(tmp_path / "gone.crt"), pems["tls.key"])
        assert await attach_zap_listener(app, missing, "127.0.0.1") is None  # type: ignore[arg-type]

    asyncio.run(main())
