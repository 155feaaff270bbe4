"""Per-request Python cost of the downstream HTTP/2 server, without sockets (fake transports on both legs).

Drives a real ``H2Protocol`` the way ``h2load -m 10`` does: one connection, rounds of 10 concurrent ``GET`` streams
whose HEADERS arrive in one read, the client's SETTINGS with a 1 GiB window (h2load's ``-w 30 -W 30``) so no
WINDOW_UPDATE is ever needed. Each request goes through the shared pipeline to, by default, the real proxy path
(``RoutingTable`` → ``WeightedRoundRobin`` → ``ServerTarget`` → pooled ``UpstreamConnection``) with a canned
nginx-like 100-byte response, as ``benchmarks/h2_bench.py`` measures behind h2load; ``--handler`` answers from a
trivial in-process handler instead (the HTTP/2 share alone). TLS and system calls are not counted.

Every response is checked by an ``h2`` client after each round (status 200, the 100-byte body, the stream ended),
so a change that breaks the protocol cannot look fast.

Run: ``.venv/bin/python benchmarks/h2_server_micro.py [N] [--rounds R] [--streams S] [--handler] [--profile]
[--json]``: prints the best of R rounds in CPU microseconds per request (``time.process_time``, which other load on
a shared machine disturbs far less than wall time) and, with ``--profile``, a cProfile top 25 of one extra round.
``--receive`` times the receive path alone (``http/h2/fast_receive.py``'s lane against ``h2``'s ``receive_data``,
the same bytes).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import time

import h2.config
import h2.connection
import h2.events
import h2.settings
import uvloop

from hanzo_edge.http.h2.server import H2Protocol, _config, _ServerConnection
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response
from hanzo_edge.http.pool import PoolRegistry, TransportOptions
from hanzo_edge.http.proxy import ServerTarget
from hanzo_edge.http.settings import ConnectionContext, EntrypointSettings
from hanzo_edge.http.upstream import UpstreamConnection
from hanzo_edge.routing.build import not_found
from hanzo_edge.routing.table import Route, RoutingTable
from hanzo_edge.rules.compile import compile_rule
from hanzo_edge.services.wrr import WeightedRoundRobin

BODY = b"x" * 99 + b"\n"
UPSTREAM_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sun, 22 Nov 2026 03:54:34 GMT\r\n"
    b"Content-Type: application/octet-stream\r\nContent-Length: 100\r\nConnection: keep-alive\r\n\r\n" + BODY
)
# What h2load (nghttp2 1.52) sends for `h2load https://bench.localhost:8443/small`.
REQUEST_HEADERS = [
    (":method", "GET"),
    (":scheme", "https"),
    (":authority", "bench.localhost:8443"),
    (":path", "/small"),
    ("user-agent", "h2load nghttp2/1.52.0"),
]
BIG_WINDOW = 2**30 - 1


class DownTransport(asyncio.Transport):
    """The client socket: keeps what the server writes; resolves ``done`` once no stream is left open."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.proto: H2Protocol | None = None
        self.done: asyncio.Future[None] | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))
        done = self.done
        if done is not None and not done.done() and self.proto is not None and not self.proto.streams:
            done.set_result(None)

    def get_extra_info(self, name: str, default: object = None) -> object:
        return ("127.0.0.1", 40000) if name == "peername" else default

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class UpTransport(asyncio.Transport):
    """An HTTP/1.1 backend connection: every request written is answered with the canned response next iteration."""

    def __init__(self, loop: asyncio.AbstractEventLoop, conn: UpstreamConnection) -> None:
        super().__init__()
        self.loop = loop
        self.conn = conn

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.loop.call_soon(self.conn.data_received, UPSTREAM_RESPONSE)

    def get_extra_info(self, name: str, default: object = None) -> object:
        return ("127.0.0.1", 9) if name == "peername" else default

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class _AheadConnection(h2.connection.H2Connection):
    """``h2``'s client without its concurrent-stream check: all rounds' requests are made before any is answered."""

    @property
    def open_outbound_streams(self) -> int:
        return 0


class Client:
    """An ``h2`` client that makes the request bytes ahead of time and checks the server's answers afterwards."""

    def __init__(self) -> None:
        self.conn = _AheadConnection(h2.config.H2Configuration(client_side=True, header_encoding=None))
        self.conn.local_settings = h2.settings.Settings(
            client=True,
            initial_values={
                h2.settings.SettingCodes.ENABLE_PUSH: 0,
                h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 100,
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: BIG_WINDOW,
            },
        )
        self.conn.initiate_connection()
        self.conn.increment_flow_control_window(BIG_WINDOW - 65535)
        self.open: dict[int, list[int]] = {}  # stream id -> [status, body bytes]

    def round_bytes(self, streams: int) -> bytes:
        """One read's worth of HEADERS frames: ``streams`` new GETs, as h2load writes them together."""
        conn = self.conn
        for _ in range(streams):
            sid = conn.get_next_available_stream_id()
            conn.send_headers(sid, REQUEST_HEADERS, end_stream=True)
            self.open[sid] = [0, 0]
        return conn.data_to_send()

    def check(self, output: bytes) -> int:
        """Feed the server's bytes; return how many streams completed correctly (raise on a wrong answer)."""
        completed = 0
        for event in self.conn.receive_data(output):
            if isinstance(event, h2.events.ResponseReceived):
                status = dict(event.headers or ()).get(b":status")
                self.open[event.stream_id][0] = int(status or 0)
            elif isinstance(event, h2.events.DataReceived):
                self.open[event.stream_id][1] += len(event.data or b"")
            elif isinstance(event, h2.events.StreamEnded):
                status, size = self.open.pop(event.stream_id)
                if status != 200 or size != len(BODY):
                    raise RuntimeError(f"stream {event.stream_id}: status {status}, {size} body bytes")
                completed += 1
            elif isinstance(event, (h2.events.StreamReset, h2.events.ConnectionTerminated)):
                raise RuntimeError(f"unexpected {event}")
        self.conn.data_to_send()  # SETTINGS ACKs and the like: the server does not need them to answer
        return completed


async def answer(req: Request) -> Response:
    return Response(200, Headers([(b"Content-Type", b"application/octet-stream")]), BODY)


def proxy_route(loop: asyncio.AbstractEventLoop, idle: int) -> Route:
    """A route to a ``ServerTarget`` whose pool holds ``idle`` kept-alive fake backend connections."""
    target = ServerTarget("http://127.0.0.1:9", PoolRegistry(), TransportOptions())
    pool = target.pool
    for _ in range(idle):
        conn = UpstreamConnection(pool.on_release)
        conn.connection_made(UpTransport(loop, conn))
        pool.active += 1
        pool.on_release(conn, True)  # idle in the pool, as after a first exchange
    rule = compile_rule("PathPrefix(`/`)")
    return Route("bench@file", 1, rule.matches, WeightedRoundRobin([("s", 1, target)]), rule.hosts, rule.host_only)


async def run(n: int, rounds: int, streams: int, handler: bool, profile: bool, sort: str = "tottime") -> float:
    loop = asyncio.get_running_loop()
    if handler:
        rule = compile_rule("PathPrefix(`/`)")
        route = Route("bench@file", 1, rule.matches, answer, rule.hosts, rule.host_only)
    else:
        route = proxy_route(loop, streams)
    ctx = ConnectionContext(EntrypointSettings(), RoutingTable([route], not_found).lookup, loop)
    proto = H2Protocol(ctx)
    down = DownTransport()
    down.proto = proto
    proto.connection_made(down)
    client = Client()
    batches = max(1, n // streams)

    async def one_round(reads: list[bytes]) -> None:
        for data in reads:
            down.done = loop.create_future()
            proto.data_received(data)
            await down.done

    def verify(expected: int) -> None:
        completed = client.check(b"".join(down.writes))
        down.writes.clear()
        if completed != expected:
            raise RuntimeError(f"{completed} streams completed, {expected} expected")

    warmup = [client.round_bytes(streams) for _ in range(200)]
    await one_round(warmup)
    verify(200 * streams)
    best = float("inf")
    for index in range(rounds + (1 if profile else 0)):
        reads = [client.round_bytes(streams) for _ in range(batches)]
        prof = cProfile.Profile() if profile and index == rounds else None
        if prof:
            prof.enable()
        t0 = time.process_time()
        await one_round(reads)
        dt = time.process_time() - t0
        if prof:
            prof.disable()
            pstats.Stats(prof).sort_stats(sort).print_stats(25)
        else:
            best = min(best, dt * 1e6 / (batches * streams))
        verify(batches * streams)
    kind = "trivial handler" if handler else "proxy to a fake HTTP/1.1 backend"
    print(
        f"{batches * streams} requests ({streams} streams per read, {kind}), best of {rounds}: "
        f"{best:.2f} CPU us/request (python, no TLS, no syscalls)"
    )
    return best


def receive_only(n: int, rounds: int, streams: int) -> dict[str, float]:
    """CPU us per request of the receive path alone (the same reads of ``streams`` GETs): the server connection's
    ``receive_data`` (``fast_receive``'s lane) against ``h2``'s own, timed around each call only; each stream is
    answered outside the timing so the stream table stays as small as in the server."""
    figures: dict[str, float] = {}
    paths = (("fast lane", _ServerConnection.receive_data), ("h2", h2.connection.H2Connection.receive_data))
    for label, receive in paths:
        best = float("inf")
        for _ in range(rounds):
            client = Client()
            server = _ServerConnection(_config())
            server.initiate_connection()
            receive(server, client.conn.data_to_send())
            reads = [client.round_bytes(streams) for _ in range(max(1, n // streams))]
            spent = 0.0
            for data in reads:
                t0 = time.process_time()
                events = receive(server, data)
                spent += time.process_time() - t0
                for event in events:
                    if isinstance(event, h2.events.RequestReceived):
                        server.send_headers(event.stream_id, [(b":status", b"204")], end_stream=True)
                server.data_to_send()
            best = min(best, spent * 1e6 / (len(reads) * streams))
        figures[label] = best
        print(f"receive path, {label}: {best:.2f} CPU us/request ({streams} HEADERS frames per read)")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("n", nargs="?", type=int, default=20000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; the best is reported")
    parser.add_argument("--streams", type=int, default=10, help="concurrent streams per read (h2load -m)")
    parser.add_argument("--handler", action="store_true", help="a trivial in-process handler instead of the proxy")
    parser.add_argument("--profile", action="store_true", help="one extra cProfiled round (top 25 by own time)")
    parser.add_argument("--sort", default="tottime", help="profile order: tottime (own time) or cumulative")
    parser.add_argument("--json", action="store_true", help="print the figure as one JSON line last")
    parser.add_argument("--receive", action="store_true", help="time the receive path alone: fast lane vs h2's")
    args = parser.parse_args()
    if args.receive:
        figures = receive_only(args.n, max(1, args.rounds), max(1, args.streams))
        if args.json:
            print(json.dumps({"receive_us_per_request": {k: round(v, 3) for k, v in figures.items()}, "n": args.n}))
        return
    best = uvloop.run(run(args.n, max(1, args.rounds), max(1, args.streams), args.handler, args.profile, args.sort))
    if args.json:
        print(
            json.dumps({"us_per_request": round(best, 3), "n": args.n, "rounds": args.rounds, "handler": args.handler})
        )


if __name__ == "__main__":
    main()
