"""The entrypoint connection pipeline (``server/entrypoint.py``): the seams for PROXY, TLS/ALPN and TCP routers.

No real PROXY parsing or TLS exists yet; each seam is driven here by a fake stage that does what the real one will
do to the connection: the PROXY stage strips its header line and reports the client address it carried, the TLS
stage reports a negotiated ALPN protocol through ``ssl_object``, the TCP router keeps the connections it routes and
hands the others on with the bytes it peeked. ``HttpProtocol`` is the real one throughout.
"""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path
from typing import Any, cast

import pytest
import uvloop

from hanzo_edge.http.connection import Connection
from hanzo_edge.http.forwarded import ForwardedHeaders
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.http.server import HttpProtocol
from hanzo_edge.http.settings import ConnectionContext, EntrypointSettings
from hanzo_edge.server.entrypoint import (
    HTTP1,
    HTTP2,
    ConnectionPipeline,
    Handoff,
    connection_pipeline,
    negotiated_protocol,
)
from hanzo_edge.server.listener import Listener

SRC = Path(__file__).resolve().parents[3] / "src" / "hanzo_edge"
PEER = ("127.0.0.1", 5555)
GET = b"GET /p HTTP/1.1\r\nHost: x\r\n\r\n"


# -- a transport, and what the fake stages hand on -------------------------------------------------------------------


class WireTransport(asyncio.Transport):
    """A socket stand-in: records writes; ``receive`` delivers bytes to whichever protocol owns it now."""

    def __init__(self, peer: tuple[str, int] = PEER) -> None:
        super().__init__()
        self.peer = peer
        self.protocol: asyncio.BaseProtocol | None = None
        self.writes: list[bytes] = []
        self.closed = False

    @property
    def output(self) -> bytes:
        return b"".join(self.writes)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.protocol = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        assert self.protocol is not None
        return self.protocol

    def receive(self, data: bytes) -> None:
        assert isinstance(self.protocol, asyncio.Protocol)
        self.protocol.data_received(data)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.peer if name == "peername" else default


class InfoView(asyncio.Transport):
    """The transport a PROXY or TLS layer hands on: the same socket, with what that layer learned as extra info."""

    def __init__(self, inner: asyncio.Transport, **info: Any) -> None:
        super().__init__()
        self.inner = inner
        self.info = info

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.info[name] if name in self.info else self.inner.get_extra_info(name, default)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.inner.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self.inner.get_protocol()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.inner.write(data)

    def close(self) -> None:
        self.inner.close()

    def is_closing(self) -> bool:
        return self.inner.is_closing()

    def pause_reading(self) -> None:
        self.inner.pause_reading()

    def resume_reading(self) -> None:
        self.inner.resume_reading()


class LineReader(asyncio.Protocol):
    """Reads one CRLF-terminated line (across packets), then calls :meth:`line_read` with the bytes after it."""

    def __init__(self, handoff: Handoff) -> None:
        self.handoff = handoff
        self.transport: asyncio.Transport | None = None
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not asyncio.Transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        line, sep, rest = self.buffer.partition(b"\r\n")
        if sep:
            assert self.transport is not None
            self.line_read(self.transport, line, rest)

    def line_read(self, transport: asyncio.Transport, line: bytes, rest: bytes) -> None:
        raise NotImplementedError


class FakeProxyHeader:
    """PROXY protocol v1 as far as the seam needs: strip ``PROXY TCP4 src dst sport dport``, report ``src:sport``."""

    def begin(self, handoff: Handoff) -> asyncio.Protocol:
        class Reader(LineReader):
            def line_read(self, transport: asyncio.Transport, line: bytes, rest: bytes) -> None:
                words = line.split(b" ")
                if words[:2] != [b"PROXY", b"TCP4"] or len(words) != 6:
                    transport.close()
                    return
                client = (words[2].decode(), int(words[4]))
                self.handoff(InfoView(transport, peername=client), rest)

        return Reader(handoff)


class FakeSSLObject:
    def __init__(self, alpn: str | None) -> None:
        self.alpn = alpn

    def selected_alpn_protocol(self) -> str | None:
        return self.alpn

    # what HttpProtocol reads once per TLS connection (http/tls_info.py)
    def version(self) -> str:
        return "TLSv1.3"

    def cipher(self) -> tuple[str, str, int]:
        return ("TLS_AES_128_GCM_SHA256", "TLSv1.3", 128)

    def getpeercert(self) -> dict[str, object]:
        return {}


class FakeTLS:
    """TLS as far as the seam needs: a first line ``ALPN <id>`` stands for a handshake that negotiated ``<id>``."""

    def begin(self, handoff: Handoff) -> asyncio.Protocol:
        class Handshake(LineReader):
            def line_read(self, transport: asyncio.Transport, line: bytes, rest: bytes) -> None:
                chosen = line.removeprefix(b"ALPN ").decode() or None
                self.handoff(InfoView(transport, ssl_object=FakeSSLObject(chosen)), rest)

        return Handshake(handoff)


class FakeTCPRouter:
    """A TCP router: connections that start with ``ECHO`` are its own (an echo service); others go on, unread."""

    def __init__(self) -> None:
        self.taken: list[asyncio.Transport] = []

    def begin(self, handoff: Handoff) -> asyncio.Protocol:
        router = self

        class Peek(asyncio.Protocol):
            def __init__(self) -> None:
                self.transport: asyncio.Transport | None = None
                self.mine = False

            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                self.transport = cast(asyncio.Transport, transport)

            def data_received(self, data: bytes) -> None:
                assert self.transport is not None
                if self.mine:
                    self.transport.write(data)
                elif data.startswith(b"ECHO"):
                    self.mine = True
                    router.taken.append(self.transport)
                    self.transport.write(data)
                else:
                    handoff(self.transport, data)  # the peeked bytes are replayed to the next stage

        return Peek()


class FakeH2(asyncio.Protocol):
    """Stands in for an HTTP/2 protocol: records what it was handed."""

    made: list[FakeH2] = []

    def __init__(self) -> None:
        self.transport: asyncio.BaseTransport | None = None
        self.received = b""
        FakeH2.made.append(self)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.received += data


# -- helpers ---------------------------------------------------------------------------------------------------------


class Entrypoint:
    """An entrypoint's context whose lookup records requests and answers ``200 ok``."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.seen: list[Request] = []
        settings = EntrypointSettings(forwarded=ForwardedHeaders(server="edge-test"))
        self.ctx = ConnectionContext(settings, self.lookup, loop)

    def lookup(self, req: Request) -> Handler:
        self.seen.append(req)
        return ok

    def http1(self) -> HttpProtocol:
        return HttpProtocol(self.ctx)


async def ok(req: Request) -> Response:
    return Response(200, Headers(), b"ok")


def accept(pipeline: ConnectionPipeline, transport: WireTransport) -> asyncio.BaseProtocol:
    """What ``loop.create_server`` does with each accepted socket."""
    protocol = pipeline.factory()()
    transport.set_protocol(protocol)
    protocol.connection_made(transport)
    return protocol


async def until(condition: Any, rounds: int = 200) -> None:
    for _ in range(rounds):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition not reached")


# -- the factory -----------------------------------------------------------------------------------------------------


def test_without_stages_the_factory_is_the_http1_protocol_itself() -> None:
    loop = asyncio.new_event_loop()
    try:
        ctx = Entrypoint(loop).ctx
        pipeline = connection_pipeline(ctx)
        factory = pipeline.factory()

        assert factory is pipeline.protocols[HTTP1]  # no wrapper protocol, no per-read hop on a plain entrypoint
        protocol = factory()
        assert isinstance(protocol, HttpProtocol)
        assert protocol.ctx is ctx
    finally:
        loop.close()


def test_the_default_protocol_needs_a_factory() -> None:
    with pytest.raises(ValueError, match=r"'http/1\.1' has no factory"):
        ConnectionPipeline({HTTP2: FakeH2})


def test_a_plain_connection_negotiates_http1() -> None:
    assert negotiated_protocol(WireTransport()) == HTTP1
    assert negotiated_protocol(InfoView(WireTransport(), ssl_object=FakeSSLObject(None))) == HTTP1
    assert negotiated_protocol(InfoView(WireTransport(), ssl_object=FakeSSLObject("h2"))) == HTTP2


# -- PROXY header → HTTP/1.1 -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("cuts", [[], [7], [7, 40, 60]], ids=["one-packet", "header-split", "many-packets"])
def test_a_proxy_header_stage_hands_http1_the_client_it_carried(cuts: list[int]) -> None:
    async def scenario() -> None:
        ep = Entrypoint(asyncio.get_running_loop())
        pipeline = ConnectionPipeline({HTTP1: ep.http1}, [FakeProxyHeader()])
        wire = WireTransport()
        accept(pipeline, wire)
        data = b"PROXY TCP4 203.0.113.7 10.0.0.1 4242 80\r\n" + GET
        for start, end in zip([0, *cuts], [*cuts, len(data)], strict=True):
            wire.receive(data[start:end])

        await until(lambda: wire.output.endswith(b"ok"))
        assert wire.output.startswith(b"HTTP/1.1 200 OK\r\n")
        req = ep.seen[0]
        assert (req.client_ip, req.client_port, req.path) == ("203.0.113.7", 4242, "/p")
        assert req.headers.get("X-Real-Ip") == "203.0.113.7"
        assert isinstance(wire.protocol, HttpProtocol)  # the stage is gone: reads go straight to HTTP/1.1
        ep.ctx.stop()

    asyncio.run(scenario())


def test_a_connection_a_stage_refuses_never_reaches_http() -> None:
    async def scenario() -> None:
        ep = Entrypoint(asyncio.get_running_loop())
        wire = WireTransport()
        accept(ConnectionPipeline({HTTP1: ep.http1}, [FakeProxyHeader()]), wire)
        wire.receive(GET)

        assert wire.closed
        assert wire.output == b""
        assert ep.seen == []

    asyncio.run(scenario())


# -- TLS/ALPN → HTTP/1.1 or HTTP/2 -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alpn", "expected"), [(b"h2", "h2"), (b"http/1.1", "http/1.1"), (b"", "http/1.1"), (b"spdy/3", "http/1.1")]
)
def test_alpn_picks_the_application_protocol(alpn: bytes, expected: str) -> None:
    async def scenario() -> None:
        FakeH2.made.clear()
        ep = Entrypoint(asyncio.get_running_loop())
        pipeline = ConnectionPipeline({HTTP1: ep.http1, HTTP2: FakeH2}, [FakeTLS()])
        wire = WireTransport()
        accept(pipeline, wire)
        wire.receive(b"ALPN " + alpn + b"\r\n" + GET)

        if expected == HTTP2:
            assert len(FakeH2.made) == 1
            assert FakeH2.made[0].received == GET
            assert wire.output == b""
        else:
            await until(lambda: wire.output.endswith(b"ok"))
            assert FakeH2.made == []
            assert len(ep.seen) == 1
        ep.ctx.stop()

    asyncio.run(scenario())


# -- TCP router → its own service, or HTTP -----------------------------------------------------------------------------


def test_a_tcp_router_keeps_what_it_routes_and_replays_the_rest_to_http() -> None:
    async def scenario() -> None:
        ep = Entrypoint(asyncio.get_running_loop())
        router = FakeTCPRouter()
        pipeline = ConnectionPipeline({HTTP1: ep.http1}, [router])
        echo, http = WireTransport(), WireTransport()
        accept(pipeline, echo)
        accept(pipeline, http)
        echo.receive(b"ECHO hello")
        echo.receive(b" again")
        http.receive(GET)

        assert echo.output == b"ECHO hello again"
        assert router.taken == [echo]
        await until(lambda: http.output.endswith(b"ok"))
        assert [req.path for req in ep.seen] == ["/p"]  # the peeked bytes reached HTTP/1.1 whole
        ep.ctx.stop()

    asyncio.run(scenario())


def test_stages_chain_in_order_proxy_then_tcp_router_then_tls() -> None:
    async def scenario() -> None:
        FakeH2.made.clear()
        ep = Entrypoint(asyncio.get_running_loop())
        pipeline = ConnectionPipeline({HTTP1: ep.http1, HTTP2: FakeH2}, [FakeProxyHeader(), FakeTCPRouter(), FakeTLS()])
        wire = WireTransport()
        accept(pipeline, wire)
        wire.receive(b"PROXY TCP4 198.51.100.2 10.0.0.1 999 443\r\nALPN h2\r\nPRI * HTTP/2.0\r\n")

        (h2,) = FakeH2.made
        assert h2.received == b"PRI * HTTP/2.0\r\n"
        assert h2.transport is not None
        assert h2.transport.get_extra_info("peername") == ("198.51.100.2", 999)
        assert h2.transport.get_extra_info("ssl_object").selected_alpn_protocol() == "h2"
        assert wire.protocol is h2

    asyncio.run(scenario())


def test_a_listener_serves_a_real_socket_through_its_pipeline() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        ep = Entrypoint(loop)
        factory = ConnectionPipeline({HTTP1: ep.http1}, [FakeProxyHeader()]).factory()
        listener = Listener(ep.ctx, "127.0.0.1", 0, protocol_factory=factory)
        await listener.start()
        reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
        try:
            writer.write(b"PROXY TCP4 192.0.2.9 127.0.0.1 5000 80\r\n" + GET)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            body = await asyncio.wait_for(reader.readexactly(2), 10)
        finally:
            writer.close()
            listener.stop_accepting()
            ep.ctx.stop()
        assert head.startswith(b"HTTP/1.1 200 OK\r\n")
        assert body == b"ok"
        assert (ep.seen[0].client_ip, ep.seen[0].client_port) == ("192.0.2.9", 5000)

    uvloop.run(scenario())


# -- the Connection contract -----------------------------------------------------------------------------------------


class FakeConnection:
    """Any protocol's connection as drain, shutdown and the ticker see it."""

    def __init__(self, busy: bool) -> None:
        self.busy = busy
        self.checked: list[float] = []
        self.closed = False

    def check_deadlines(self, now: float) -> None:
        self.checked.append(now)

    def close_if_idle(self) -> bool:
        if self.busy:
            return False
        self.closed = True
        return True

    def close_now(self) -> None:
        self.closed = True


def test_drain_ticker_and_shutdown_need_only_the_connection_protocol() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        ctx = ConnectionContext(EntrypointSettings(read_timeout=0.05), Entrypoint(loop).lookup, loop)
        idle, busy = FakeConnection(busy=False), FakeConnection(busy=True)
        connections: list[Connection] = [idle, busy]
        for conn in connections:
            ctx.connection_opened(conn)

        await asyncio.wait_for(until_checked(busy), 10)  # the ticker runs at a fifth of the read timeout
        assert ctx.close_idle() == 1
        assert (idle.closed, busy.closed) == (True, False)
        ctx.stop()
        assert busy.closed

    asyncio.run(scenario())


async def until_checked(conn: FakeConnection) -> None:
    while not conn.checked:
        await asyncio.sleep(0.005)


def _imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_entrypoint_settings_do_not_import_the_http1_protocol() -> None:
    # Even under TYPE_CHECKING: settings -> server -> settings was the cycle the Connection protocol removes.
    assert "hanzo_edge.http.server" not in _imported_modules(SRC / "http" / "settings.py")
    assert "hanzo_edge.http.server" not in _imported_modules(SRC / "server" / "listener.py")
