"""Socket-free harness for the HTTP/1.1 data plane: a recording transport and a hand-driven downstream connection.

Tests feed bytes with :meth:`Client.send`, let the loop run the handler tasks with :meth:`Client.settle` or
:meth:`Client.until` (bounded: no sleeping, no sockets), and assert the exact bytes in :attr:`MockTransport.output`.

:func:`check_downstream` is the parser-boundary invariant shared by the Hypothesis property
(``tests/property/test_downstream_fuzz.py``) and the atheris entry script (``fuzz/downstream.py``).
"""

from __future__ import annotations

import asyncio
import functools
import itertools
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from hanzo_edge.http import server as server_module
from hanzo_edge.http.body import BodyError, StreamBody
from hanzo_edge.http.forwarded import ForwardedHeaders
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.http.server import HttpProtocol
from hanzo_edge.http.settings import ConnectionContext, EntrypointSettings

__all__ = [
    "FIXED_DATE",
    "PEER",
    "Client",
    "FixedDate",
    "MockSource",
    "MockTransport",
    "async_test",
    "check_downstream",
    "make_settings",
    "split_at",
]

PEER = ("127.0.0.1", 5555)
FIXED_DATE = b"Date: Mon, 02 Jan 2006 15:04:05 GMT\r\n"
SERVER_NAME = "edge-test"

T = TypeVar("T")


class FixedDate:
    """Stand-in for ``hanzo_edge.http.status.DATE`` so responses are byte-for-byte reproducible."""

    def line(self) -> bytes:
        return FIXED_DATE


def use_fixed_date(monkeypatch: Any) -> None:
    """Make every response written by :class:`HttpProtocol` carry :data:`FIXED_DATE`."""
    monkeypatch.setattr(server_module, "DATE", FixedDate())


def async_test(fn: Callable[..., Coroutine[Any, Any, T]]) -> Callable[..., T]:
    """Run an ``async def`` test on a fresh event loop (pytest-asyncio is not a dependency)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        return asyncio.run(fn(*args, **kwargs))

    return wrapper


class MockTransport:
    """Records what a protocol writes and how it drives the socket; ``close`` reports ``connection_lost`` soon after.

    ``writes`` holds each ``write`` call separately (a response head is one write); ``late_writes`` holds the writes
    made after ``close``, which a real transport would drop.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None, peername: tuple[str, int] = PEER) -> None:
        self.loop = loop
        self.protocol: asyncio.BaseProtocol | None = None
        self.peername = peername
        self.writes: list[bytes] = []
        self.late_writes: list[bytes] = []
        self.closed = False
        self.lost = False
        self.paused = False
        self.pause_calls = 0
        self.resume_calls = 0
        self.switched = False  # set_protocol was called: the connection now speaks HTTP/2

    @property
    def output(self) -> bytes:
        """Everything written before the transport closed."""
        return b"".join(self.writes)

    def clear(self) -> None:
        self.writes.clear()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self.closed:
            self.late_writes.append(bytes(data))
        else:
            self.writes.append(bytes(data))

    def writelines(self, chunks: list[bytes]) -> None:
        for chunk in chunks:
            self.write(chunk)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.protocol is not None and self.loop is not None:
            self.loop.call_soon(self._connection_lost)

    def abort(self) -> None:
        self.close()

    def _connection_lost(self) -> None:
        if not self.lost and self.protocol is not None:
            self.lost = True
            self.protocol.connection_lost(None)

    def is_closing(self) -> bool:
        return self.closed

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        """An h2c prior-knowledge connection is handed to the HTTP/2 protocol, as on a real transport."""
        self.protocol = protocol
        self.switched = True

    def get_protocol(self) -> asyncio.BaseProtocol | None:
        return self.protocol

    def pause_reading(self) -> None:
        self.paused = True
        self.pause_calls += 1

    def resume_reading(self) -> None:
        self.paused = False
        self.resume_calls += 1

    def is_reading(self) -> bool:
        return not self.paused

    def can_write_eof(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "peername":
            return self.peername
        return default


class MockSource:
    """A response-body source (an upstream connection stand-in) that records pause/resume requests."""

    def __init__(self) -> None:
        self.paused = False
        self.calls: list[str] = []
        self.closed = False

    def pause_reading(self) -> None:
        self.paused = True
        self.calls.append("pause")

    def resume_reading(self) -> None:
        self.paused = False
        self.calls.append("resume")

    def close(self) -> None:
        self.closed = True


def make_settings(**overrides: Any) -> EntrypointSettings:
    """Entrypoint settings with a fixed ``X-Forwarded-Server`` so header assertions are exact."""
    overrides.setdefault("forwarded", ForwardedHeaders(server=SERVER_NAME))
    return EntrypointSettings(**overrides)


async def ok_handler(req: Request) -> Response:
    """Answer ``200`` with ``ok``."""
    return Response(200, Headers(), b"ok")


class Client:
    """One downstream connection of an :class:`HttpProtocol`, driven by hand.

    ``handler`` answers every request (``lookup`` overrides that); every request the lookup sees is kept in ``seen``.
    Must be called with a running loop.
    """

    def __init__(
        self,
        handler: Handler | None = None,
        *,
        lookup: Callable[[Request], Handler] | None = None,
        settings: EntrypointSettings | None = None,
        peer: tuple[str, int] = PEER,
    ) -> None:
        loop = asyncio.get_running_loop()
        self.loop = loop
        self.seen: list[Request] = []
        chosen = handler or ok_handler
        inner = lookup

        def recording_lookup(req: Request) -> Handler:
            self.seen.append(req)
            return inner(req) if inner is not None else chosen

        self.ctx = ConnectionContext(settings or make_settings(), recording_lookup, loop)
        self.transport = MockTransport(loop, peer)
        self.proto = HttpProtocol(self.ctx)
        self.transport.protocol = self.proto
        self.proto.connection_made(self.transport)  # type: ignore[arg-type]

    @property
    def output(self) -> bytes:
        return self.transport.output

    @property
    def closed(self) -> bool:
        return self.transport.closed

    def send(self, data: bytes) -> None:
        """Deliver bytes from the client (what the event loop would do on a readable socket)."""
        self.proto.data_received(data)

    async def settle(self, rounds: int = 20) -> None:
        """Let ready tasks and ``call_soon`` callbacks run ``rounds`` times."""
        for _ in range(rounds):
            await asyncio.sleep(0)

    async def until(self, condition: Callable[[], bool], rounds: int = 500) -> None:
        """Run the loop until ``condition()`` holds; fail after ``rounds`` iterations and 10 s.

        Some handlers finish off the loop (a metrics snapshot, a writer thread): on a loaded machine ``rounds`` bare
        iterations can pass before they do, so polling goes on with short real waits up to the time bound.
        """
        for _ in range(rounds):
            if condition():
                return
            await asyncio.sleep(0)
        deadline = asyncio.get_running_loop().time() + 10.0
        while asyncio.get_running_loop().time() < deadline:
            if condition():
                return
            await asyncio.sleep(0.005)
        raise AssertionError(f"condition not reached; written so far: {self.output!r}")

    def idle(self) -> bool:
        """True when no request is being handled or waiting."""
        proto = self.proto
        return proto._active is None and not proto._queue

    async def aclose(self) -> None:
        """Close the connection, stop the context's ticker and let the cancellations run."""
        self.ctx.stop()
        await self.settle(5)


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    """Split ``data`` at the given offsets (clamped, sorted, deduplicated); never yields empty chunks."""
    points = sorted({min(max(c, 0), len(data)) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points) if b > a]


# -- the parser-boundary invariant (shared with fuzz/downstream.py) ----------------------------------------------------

FUZZ_ALLOWED_STATUS = frozenset({100, 200, 400, 404, 413, 414, 431, 501, 505})
FUZZ_ERROR_STATUS = frozenset({400, 414, 431, 501, 505})
FUZZ_SETTINGS_KW: dict[str, Any] = {"max_header_bytes": 512}


async def _fuzz_handler(req: Request) -> Response:
    if req.path.startswith("/missing"):
        return Response.text(404, "404 page not found\n")
    body = req.body
    if isinstance(body, StreamBody):
        try:
            await body.read(limit=2048)
        except BodyError:
            return Response.text(413, "Request Entity Too Large")
    return Response(200, Headers(), b"ok")


def _is_parse_error(write: bytes) -> bool:
    # A connection-level error answer carries the Go-style "<code> <text>" body; Traefik's handler-level fragment
    # answer is an empty 400 (Content-Length: 0) that follows the request's version and keep-alive.
    return b"\r\nContent-Length: 0\r\n" not in write


def _status_of(write: bytes) -> int:
    # Go answers an HTTP/1.0 request with an "HTTP/1.0" status line, and its parse errors with "HTTP/1.1".
    assert write[:9] in (b"HTTP/1.1 ", b"HTTP/1.0 "), f"response does not start with a status line: {write[:80]!r}"
    code = write[9:12]
    assert code.isdigit(), f"malformed status line: {write[:80]!r}"
    assert write[12:13] == b" ", f"malformed status line: {write[:80]!r}"
    status = int(code)
    if status in FUZZ_ERROR_STATUS and _is_parse_error(write):
        # Connection-level parse errors (which close) are HTTP/1.1; handler-level 400s follow the request version.
        assert write.startswith(b"HTTP/1.1 "), f"parse errors are answered as HTTP/1.1: {write[:80]!r}"
    return status


async def _check_downstream(chunks: list[bytes]) -> None:
    client = Client(_fuzz_handler, settings=make_settings(**FUZZ_SETTINGS_KW))
    transport = client.transport
    try:
        for chunk in chunks:
            if transport.paused:
                await client.settle(10)
            if transport.closed or transport.paused:
                break  # a real transport delivers nothing while paused or after close
            client.send(chunk)  # the invariant: no exception escapes data_received
        for _ in range(200):
            if transport.closed or client.idle():
                break
            await asyncio.sleep(0)
        if transport.switched:
            return  # the HTTP/2 preface: the HTTP/2 protocol answers in frames (its own fuzz tests cover it)
        statuses = [_status_of(w) for w in transport.writes]
        for i, status in enumerate(statuses):
            assert status in FUZZ_ALLOWED_STATUS, f"unexpected status {status}: {transport.writes[i][:200]!r}"
            # Error answers that end the connection say so; Traefik's fragment check answers an empty 400 and
            # keeps the connection (Content-Length: 0, no Connection: close), so later requests may follow it.
            if status in FUZZ_ERROR_STATUS and _is_parse_error(transport.writes[i]):
                assert i == len(statuses) - 1, (
                    f"bytes written after a {status}: {transport.writes[i + 1 :]!r}; input {chunks!r}"
                )
                assert transport.closed, f"connection left open after a {status}; input {chunks!r}"
        assert not transport.late_writes, f"written after close: {transport.late_writes!r}"
    finally:
        await client.aclose()


def check_downstream(chunks: list[bytes]) -> None:
    """Feed ``chunks`` to a fresh connection and assert the parser-boundary invariant (raises AssertionError)."""
    asyncio.run(_check_downstream(chunks))


def response_awaitable(response: Response) -> Callable[[Request], Awaitable[Response]]:
    """A handler that always answers ``response``."""

    async def handler(req: Request) -> Response:
        return response

    return handler
