"""A real HTTP/1.1 backend for the integration tests: asyncio streams on 127.0.0.1, in a thread with its own loop.

The parser here is written by hand on purpose: it shares no code with the proxy under test.

Routes
    ``/echo``                 method, target, headers, body length and sha256 as JSON
    ``/big?size=N``           N bytes of :func:`payload` with ``Content-Length``
    ``/chunked?n=K``          K chunks ``chunk-<i>\\n`` with ``Transfer-Encoding: chunked``
    ``/close-delimited``      no framing: body, then close
    ``/sse``                  one event, then waits for :meth:`Backend.release_sse`, then a second event and the end
    ``/slow?ms=N``            waits N ms before sending the head
    ``/status/NNN``           answers status NNN
    ``/ws``                   ``101 Switching Protocols`` for ``Upgrade: websocket``, sends ``hello\\n``, echoes bytes

Every request is recorded in :attr:`Backend.received` before it is answered, except the harness's readiness
probe (``/__ready__``), which is answered like any other path but not recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import http
import json
import random
import threading
from dataclasses import dataclass, field
from urllib.parse import parse_qs

__all__ = ["READY_PATH", "SSE_FIRST", "SSE_SECOND", "WS_GREETING", "Backend", "Received", "payload"]

READY_PATH = "/__ready__"

SSE_FIRST = b"event: tick\ndata: first\n\n"
SSE_SECOND = b"event: tick\ndata: second\n\n"
WS_GREETING = b"hello\n"
_MAX_HEAD = 1024 * 1024


def payload(size: int, seed: int = 1) -> bytes:
    """Return ``size`` deterministic pseudo-random bytes (same for the same ``seed``)."""
    return random.Random(seed).randbytes(size)


@dataclass
class Received:
    """One request as the backend saw it."""

    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]
    body_length: int = 0
    body_sha256: str = hashlib.sha256(b"").hexdigest()
    peer: tuple[str, int] = ("", 0)

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(self.target.partition("?")[2])

    def header(self, name: str) -> str | None:
        """The value of ``name`` (case-insensitive); several values are joined with ``, ``."""
        values = self.header_all(name)
        return ", ".join(values) if values else None

    def header_all(self, name: str) -> list[str]:
        lname = name.lower()
        return [v for n, v in self.headers if n.lower() == lname]

    def as_json(self) -> dict[str, object]:
        return {
            "method": self.method,
            "target": self.target,
            "version": self.version,
            "headers": [list(pair) for pair in self.headers],
            "body_length": self.body_length,
            "body_sha256": self.body_sha256,
        }


@dataclass
class _State:
    received: list[Received] = field(default_factory=list)
    writers: set[asyncio.StreamWriter] = field(default_factory=set)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


class _BadRequest(Exception):
    pass


class Backend:
    """A test HTTP server. Use :meth:`start` / :meth:`stop` (the ``backend`` fixture does both)."""

    def __init__(self, name: str = "backend") -> None:
        self.name = name
        self.port = 0
        self.received: list[Received] = []
        self.sse_gate = threading.Event()
        self.sse_first_sent = threading.Event()
        self._state = _State(received=self.received)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._async_gate: asyncio.Event | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None

    # -- lifecycle -------------------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Backend:
        self._thread = threading.Thread(target=self._run, name=f"backend-{self.name}", daemon=True)
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("backend did not start")
        if self._error is not None:
            raise RuntimeError("backend failed to start") from self._error
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._open())
        except BaseException as exc:
            self._error = exc
            self._started.set()
            loop.close()
            return
        self._started.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _open(self) -> None:
        self._async_gate = asyncio.Event()
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0, limit=_MAX_HEAD)
        self.port = self._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or not thread.is_alive():
            return
        future = asyncio.run_coroutine_threadsafe(self._close(), loop)
        try:
            future.result(10)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)

    async def _close(self) -> None:
        state = self._state
        if self._server is not None:
            self._server.close()
        for writer in list(state.writers):
            writer.close()
        current = asyncio.current_task()
        tasks = [t for t in state.tasks if t is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    def release_sse(self) -> None:
        """Let ``/sse`` send its second event (thread-safe)."""
        self.sse_gate.set()
        if self._loop is not None and self._async_gate is not None:
            self._loop.call_soon_threadsafe(self._async_gate.set)

    @property
    def open_connections(self) -> int:
        """How many client (i.e. proxy) connections are open right now."""
        return len(self._state.writers)

    # -- queries ---------------------------------------------------------------------------------------------------
    def requests_to(self, path: str) -> list[Received]:
        """Every recorded request whose path is ``path``."""
        return [r for r in list(self.received) if r.path == path]

    def last(self, path: str | None = None) -> Received:
        """The most recent request (to ``path`` when given)."""
        items = self.requests_to(path) if path is not None else list(self.received)
        if not items:
            raise AssertionError(f"backend {self.name} received no request" + (f" to {path}" if path else ""))
        return items[-1]

    # -- serving ---------------------------------------------------------------------------------------------------
    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state = self._state
        task = asyncio.current_task()
        assert task is not None
        state.tasks.add(task)
        state.writers.add(writer)
        peer = writer.get_extra_info("peername") or ("", 0)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    return
                try:
                    req = _parse_head(head, (str(peer[0]), int(peer[1])))
                except _BadRequest:
                    writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    await writer.drain()
                    return
                if req.path == "/ws" and "websocket" in (req.header("upgrade") or "").lower():
                    state.received.append(req)
                    await self._websocket(reader, writer)
                    return
                if "100-continue" in (req.header("expect") or "").lower():
                    writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                    await writer.drain()
                await _read_body(reader, req)
                if req.path != READY_PATH:
                    state.received.append(req)
                if not await self._dispatch(req, writer):
                    return
        except (ConnectionError, asyncio.LimitOverrunError, asyncio.IncompleteReadError, _BadRequest):
            return
        finally:
            state.writers.discard(writer)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            state.tasks.discard(task)

    async def _dispatch(self, req: Received, writer: asyncio.StreamWriter) -> bool:
        """Answer ``req``; return False when the connection must close."""
        keep = _keep_alive(req)
        head_only = req.method == "HEAD"
        path, query = req.path, req.query
        if path == "/echo":
            body = json.dumps(req.as_json()).encode()
            await _respond(writer, 200, body, [("Content-Type", "application/json")], keep, head_only)
        elif path == "/big":
            size = int(query.get("size", ["0"])[0])
            await _respond(writer, 200, payload(size), [("Content-Type", "application/octet-stream")], keep, head_only)
        elif path == "/chunked":
            n = int(query.get("n", ["3"])[0])
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n")
            if not head_only:
                for i in range(n):
                    chunk = b"chunk-%d\n" % i
                    writer.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
                    await writer.drain()
                writer.write(b"0\r\n\r\n")
            await writer.drain()
        elif path == "/close-delimited":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n")
            if not head_only:
                for i in range(5):
                    writer.write(b"line-%d\n" % i)
                    await writer.drain()
            return False
        elif path == "/sse":
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n"
            )
            writer.write(b"%x\r\n%b\r\n" % (len(SSE_FIRST), SSE_FIRST))
            await writer.drain()
            self.sse_first_sent.set()
            assert self._async_gate is not None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._async_gate.wait(), 15)
            writer.write(b"%x\r\n%b\r\n0\r\n\r\n" % (len(SSE_SECOND), SSE_SECOND))
            await writer.drain()
        elif path == "/slow":
            await asyncio.sleep(int(query.get("ms", ["1000"])[0]) / 1000)
            await _respond(writer, 200, b"slow done", [("Content-Type", "text/plain")], keep, head_only)
        elif path.startswith("/status/"):
            status = int(path.rsplit("/", 1)[1])
            body = b"" if status in (204, 304) else b"status %d" % status
            await _respond(writer, status, body, [("Content-Type", "text/plain")], keep, head_only)
        else:
            await _respond(
                writer, 200, f"{self.name} {req.target}".encode(), [("X-Backend", self.name)], keep, head_only
            )
        return keep

    async def _websocket(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n" + WS_GREETING
        )
        await writer.drain()
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()


def _parse_head(head: bytes, peer: tuple[str, int]) -> Received:
    lines = head[:-4].split(b"\r\n")
    try:
        method, target, version = lines[0].decode("latin-1").split(" ")
    except ValueError:
        raise _BadRequest(lines[0]) from None
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, sep, value = line.decode("latin-1").partition(":")
        if not sep or not name or name != name.strip():
            raise _BadRequest(line)
        headers.append((name, value.strip()))
    return Received(method, target, version, headers, peer=peer)


async def _read_body(reader: asyncio.StreamReader, req: Received) -> None:
    digest = hashlib.sha256()
    total = 0
    te = (req.header("transfer-encoding") or "").lower()
    if te:
        if te != "chunked":
            raise _BadRequest(te)
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass  # trailers
                break
            data = await reader.readexactly(size)
            digest.update(data)
            total += size
            if await reader.readexactly(2) != b"\r\n":
                raise _BadRequest("chunk framing")
    else:
        remaining = int(req.header("content-length") or "0")
        while remaining:
            data = await reader.read(min(remaining, 1 << 20))
            if not data:
                raise asyncio.IncompleteReadError(b"", remaining)
            digest.update(data)
            total += len(data)
            remaining -= len(data)
    req.body_length = total
    req.body_sha256 = digest.hexdigest()


def _keep_alive(req: Received) -> bool:
    tokens = {t.strip().lower() for t in (req.header("connection") or "").split(",")}
    if req.version == "HTTP/1.0":
        return "keep-alive" in tokens
    return "close" not in tokens


async def _respond(
    writer: asyncio.StreamWriter,
    status: int,
    body: bytes,
    headers: list[tuple[str, str]],
    keep: bool,
    head_only: bool,
) -> None:
    try:
        reason = http.HTTPStatus(status).phrase
    except ValueError:
        reason = "Unknown"
    lines = [f"HTTP/1.1 {status} {reason}"]
    lines += [f"{n}: {v}" for n, v in headers]
    if status not in (204, 304) and status >= 200:
        lines.append(f"Content-Length: {len(body)}")
    if not keep:
        lines.append("Connection: close")
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (b"" if head_only else body))
    await writer.drain()
