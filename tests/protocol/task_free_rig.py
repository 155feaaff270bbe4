"""A real-socket rig for the Task-less request path (issue 22): raw backend, ``HttpProtocol`` listener, observer.

Shared by ``test_hot22_eager_start.py`` (the eager path's outcomes) and ``test_rev22b_task_free_edges.py`` (its edges
on the wire). The backend is a raw ``asyncio.Protocol`` whose answer each test controls: by default it records what
arrives and answers ``OK`` (unless ``hold`` is set); a test may pass its own ``answer(conn, data)``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from hanzo_edge.http.messages import Handler
from hanzo_edge.http.pool import PoolRegistry, TransportOptions
from hanzo_edge.http.proxy import ServerTarget
from hanzo_edge.http.server import HttpProtocol
from hanzo_edge.http.settings import ConnectionContext, EntrypointSettings
from hanzo_edge.routing.build import not_found
from hanzo_edge.routing.table import Route, RoutingTable
from hanzo_edge.rules.compile import compile_rule
from hanzo_edge.services.wrr import WeightedRoundRobin

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nDate: Sat, 05 Dec 2026 09:00:00 GMT\r\n\r\nok"
GET = b"GET /x HTTP/1.1\r\nHost: app.test\r\n\r\n"
Answer = Callable[["RawBackend", bytes], None]


class RawBackend(asyncio.Protocol):
    """One backend connection; its rig's ``answer(conn, data)`` decides what each read gets."""

    rig: Rig

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.rig.conns.append(self)

    def data_received(self, data: bytes) -> None:
        self.rig.answer(self, data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self in self.rig.conns:
            self.rig.conns.remove(self)
        self.rig.closed.set()


def wrr(target: Handler) -> Handler:
    """The task-free shape: a one-server round-robin balancer around the target."""
    return WeightedRoundRobin([("s", 1, target)])


class Rig:
    """Backend, ingress listener and observer records for one test."""

    def __init__(self, answer: Answer | None = None) -> None:
        self.answer: Answer = answer or self._record_and_answer
        self.hold = False
        """The default answer records the request and holds its answer back."""
        self.seen: asyncio.Queue[bytes] = asyncio.Queue()
        self.closed = asyncio.Event()
        self.conns: list[RawBackend] = []
        self.servers: list[asyncio.Server] = []
        self.observed: list[tuple[int, bool]] = []
        self.protocols: list[HttpProtocol] = []

    def _record_and_answer(self, conn: RawBackend, data: bytes) -> None:
        self.seen.put_nowait(data)
        if not self.hold:
            conn.transport.write(OK)

    async def start(self, handler_of: Callable[[ServerTarget], Handler] = wrr, header_timeout: float = 0.0) -> int:
        """Start the backend and the ingress listener; return the listener's port."""
        loop = asyncio.get_running_loop()

        class _Backend(RawBackend):
            pass

        _Backend.rig = self
        backend = await loop.create_server(_Backend, "127.0.0.1", 0)
        self.servers.append(backend)
        port = backend.sockets[0].getsockname()[1]
        self.pools = PoolRegistry()
        options = TransportOptions(response_header_timeout=header_timeout)
        target = ServerTarget(f"http://127.0.0.1:{port}", self.pools, options)
        rule = compile_rule("Host(`app.test`)")
        route = Route("r@test", 10, rule.matches, handler_of(target), rule.hosts, rule.host_only)
        self.table = RoutingTable([route], not_found)
        self.ctx = ctx = ConnectionContext(EntrypointSettings(), self.table.lookup, loop)
        ctx.observer = lambda _req, status, _n, _d, aborted: self.observed.append((status, aborted))

        def protocol() -> HttpProtocol:
            proto = HttpProtocol(ctx)
            self.protocols.append(proto)
            return proto

        ingress = await loop.create_server(protocol, "127.0.0.1", 0)
        self.servers.append(ingress)
        return int(ingress.sockets[0].getsockname()[1])

    async def stop(self, *writers: asyncio.StreamWriter) -> None:
        for writer in writers:
            writer.close()
        self.ctx.stop()
        self.pools.close()
        for server in self.servers:
            server.close()
            await server.wait_closed()
        for conn in list(self.conns):
            conn.transport.close()
        await poll(lambda: not self.ctx.connections and not self.conns)
        await asyncio.sleep(0.01)  # the closed transports' last callbacks run before the loop ends


async def poll(check: Callable[[], bool]) -> None:
    for _ in range(1000):
        if check():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not reached in 5 s")


def request_tasks() -> list[asyncio.Task[object]]:
    """The request Tasks alive now (a task-free request has none)."""
    return [t for t in asyncio.all_tasks() if "handle_request" in repr(t.get_coro())]


async def read_response(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """One response with a Content-Length (or none): (head, body)."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    body = await asyncio.wait_for(reader.readexactly(length), 5) if length else b""
    return head, body
