"""Real HTTP/2 backends for the upstream HTTP/2 and gRPC tests, each on its own thread and event loop.

* :class:`GrpcBackend`: a ``grpc.aio`` server with a bytes-in/bytes-out ``echo.Echo`` service (unary, server-,
  client- and bidi-streaming; no generated code needed) and the standard ``grpc.health.v1.Health`` service
  (``grpcio-health-checking``), whose status a test flips.
* :class:`H2Backend`: a plain ``h2`` server that counts the connections it accepted, advertises a chosen
  ``SETTINGS_MAX_CONCURRENT_STREAMS``, answers each request with what it saw (JSON), and can hold a stream's
  response (``/stall``) until released, to prove one stalled stream delays no other.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import grpc
import h2.config
import h2.connection
import h2.events
import h2.settings
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

SERVICE = "echo.Echo"


def grpc_frame(message: bytes, flag: int = 0) -> bytes:
    """One length-prefixed gRPC message (5-byte prefix)."""
    return struct.pack(">BI", flag, len(message)) + message


def grpc_messages(data: bytes) -> list[tuple[int, bytes]]:
    """Split a gRPC (or gRPC-Web) body into ``(flag, message)`` frames."""
    out: list[tuple[int, bytes]] = []
    offset = 0
    while offset + 5 <= len(data):
        flag, size = struct.unpack(">BI", data[offset : offset + 5])
        out.append((flag, data[offset + 5 : offset + 5 + size]))
        offset += 5 + size
    return out


def _identity(value: bytes) -> bytes:
    return value


class _LoopThread:
    """An event loop on a daemon thread; ``run(coro)`` executes a coroutine there and returns its result."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 10.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


class _CountingHealth(health.aio.HealthServicer):  # type: ignore[misc]
    """The standard health servicer, counting the checks it answers."""

    def __init__(self, backend: GrpcBackend) -> None:
        super().__init__()
        self.backend = backend

    async def Check(self, request: Any, context: Any) -> Any:
        self.backend.health_checks += 1
        self.backend.health_services.append(request.service)
        return await super().Check(request, context)


class GrpcBackend:
    """A ``grpc.aio`` echo + health server on 127.0.0.1 (cleartext HTTP/2)."""

    def __init__(self, tls: tuple[bytes, bytes] | None = None) -> None:
        self.tls = tls  # (private key PEM, certificate chain PEM): serve TLS, whose ALPN offers h2
        self._thread = _LoopThread("grpc-backend")
        self.port = 0
        self.health = _CountingHealth(self)
        self.health_checks = 0
        self.health_services: list[str] = []
        self.calls: list[str] = []
        self.metadata: list[dict[str, str]] = []
        self._server: Any = None

    def start(self) -> GrpcBackend:
        self._thread.run(self._start())
        return self

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'h2c'}://127.0.0.1:{self.port}"

    def set_serving(self, serving: bool, service: str = "") -> None:
        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        result = self.health.set(service, status)
        if asyncio.iscoroutine(result):
            self._thread.run(result)

    def stop(self) -> None:
        if self._server is not None:
            self._thread.run(self._server.stop(0))
            self._server = None
        self._thread.stop()

    async def _start(self) -> None:
        server = grpc.aio.server()
        handlers = {
            "Unary": grpc.unary_unary_rpc_method_handler(
                self._unary, request_deserializer=_identity, response_serializer=_identity
            ),
            "ServerStream": grpc.unary_stream_rpc_method_handler(
                self._server_stream, request_deserializer=_identity, response_serializer=_identity
            ),
            "ClientStream": grpc.stream_unary_rpc_method_handler(
                self._client_stream, request_deserializer=_identity, response_serializer=_identity
            ),
            "Bidi": grpc.stream_stream_rpc_method_handler(
                self._bidi, request_deserializer=_identity, response_serializer=_identity
            ),
        }
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        if self.tls is not None:
            self.port = server.add_secure_port("127.0.0.1:0", grpc.ssl_server_credentials([self.tls]))
        else:
            self.port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        self._server = server

    def _note(self, name: str, context: Any) -> None:
        self.calls.append(name)
        self.metadata.append({k: v for k, v in context.invocation_metadata() if isinstance(v, str)})

    async def _unary(self, request: bytes, context: Any) -> bytes:
        self._note("Unary", context)
        if request == b"fail":
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "bad request: fail")
        context.set_trailing_metadata((("x-echo-trailer", "done"),))
        return b"echo:" + request

    async def _server_stream(self, request: bytes, context: Any) -> AsyncIterator[bytes]:
        self._note("ServerStream", context)
        count = int(request or b"3")
        for i in range(count):
            yield b"item-%d" % i
            if request.endswith(b"0") and i == 0:
                await asyncio.sleep(0)

    async def _client_stream(self, requests: AsyncIterator[bytes], context: Any) -> bytes:
        self._note("ClientStream", context)
        parts = [chunk async for chunk in requests]
        return b"+".join(parts)

    async def _bidi(self, requests: AsyncIterator[bytes], context: Any) -> AsyncIterator[bytes]:
        self._note("Bidi", context)
        async for chunk in requests:
            yield b"re:" + chunk


class H2Backend:
    """An ``h2`` cleartext server that answers each request with what it saw; counts accepted connections."""

    def __init__(self, max_concurrent_streams: int | None = None, delay: float = 0.0) -> None:
        self._thread = _LoopThread("h2-backend")
        self.max_concurrent_streams = max_concurrent_streams
        self.delay = delay
        self.connections = 0
        self.max_open_streams = 0
        self.requests: list[dict[str, Any]] = []
        self.paths: list[str] = []  # every request's :path, as it arrives
        self.resets: list[int] = []
        self.release = threading.Event()
        self.protocols: list[_H2ServerProtocol] = []
        self.port = 0
        self._server: asyncio.base_events.Server | None = None

    def start(self) -> H2Backend:
        self._thread.run(self._start())
        return self

    @property
    def url(self) -> str:
        return f"h2c://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.release.set()
        server = self._server

        async def close() -> None:
            if server is not None:
                server.close()
            for protocol in self.protocols:
                if protocol.transport is not None:
                    protocol.transport.close()
            await asyncio.sleep(0.01)  # let the transports finish closing on this loop

        self._thread.run(close())
        self._thread.stop()

    async def _start(self) -> None:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self._server = await asyncio.get_running_loop().create_server(lambda: _H2ServerProtocol(self), sock=sock)


class _H2ServerProtocol(asyncio.Protocol):
    def __init__(self, backend: H2Backend) -> None:
        self.backend = backend
        settings: dict[int, int] = {}
        if backend.max_concurrent_streams is not None:
            settings[h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS] = backend.max_concurrent_streams
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
        self.settings = settings
        self.transport: asyncio.Transport | None = None
        self.bodies: dict[int, bytearray] = {}
        self.heads: dict[int, dict[str, Any]] = {}
        self.open: set[int] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.backend.connections += 1
        self.backend.protocols.append(self)
        self.conn.initiate_connection()
        if self.settings:
            self.conn.update_settings(self.settings)
        self._flush()

    def data_received(self, data: bytes) -> None:
        for event in self.conn.receive_data(data):
            if isinstance(event, h2.events.RequestReceived):
                sid = event.stream_id
                self.open.add(sid)
                self.backend.max_open_streams = max(self.backend.max_open_streams, len(self.open))
                headers = [(str(k), str(v)) for k, v in event.headers or []]
                self.backend.paths.append(dict(headers).get(":path", ""))
                self.heads[sid] = {"headers": headers, "stream": sid}
                self.bodies[sid] = bytearray()  # answered at StreamEnded (h2 reports it for END_STREAM on HEADERS too)
            elif isinstance(event, h2.events.DataReceived):
                self.bodies.setdefault(event.stream_id, bytearray()).extend(event.data or b"")
                self.conn.acknowledge_received_data(event.flow_controlled_length or 0, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                self._answer(event.stream_id)
            elif isinstance(event, h2.events.StreamReset):
                self.backend.resets.append(event.stream_id or 0)
                self.open.discard(event.stream_id or 0)
        self._flush()

    def _answer(self, sid: int) -> None:
        asyncio.get_running_loop().create_task(self._respond(sid))

    async def _respond(self, sid: int) -> None:
        head = self.heads.pop(sid)
        head["body"] = bytes(self.bodies.pop(sid, b"")).decode("latin-1")
        self.backend.requests.append(head)
        path = dict(head["headers"]).get(":path", "")
        if path.startswith("/stall"):
            release = self.backend.release
            for _ in range(400):  # bounded: at most 20 s
                if release.is_set() or sid not in self.open:
                    break
                await asyncio.sleep(0.05)
        elif self.backend.delay:
            await asyncio.sleep(self.backend.delay)
        if sid not in self.open:
            return
        payload = json.dumps(head).encode()
        try:
            self.conn.send_headers(sid, [(":status", "200"), ("content-type", "application/json"), ("x-backend", "h2")])
            self.conn.send_data(sid, payload)
            self.conn.send_headers(sid, [("x-trailer", "t1")], end_stream=True)
        except Exception:  # the stream was reset meanwhile
            return
        finally:
            self.open.discard(sid)
        self._flush()

    def _flush(self) -> None:
        data = self.conn.data_to_send()
        if data and self.transport is not None:
            self.transport.write(data)


def run_in_thread(fn: Callable[[], Any]) -> threading.Thread:
    """Start ``fn`` on a daemon thread (for blocking clients run side by side)."""
    thread = threading.Thread(target=fn, daemon=True)
    thread.start()
    return thread
