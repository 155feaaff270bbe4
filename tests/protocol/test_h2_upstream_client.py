"""The HTTP/2 upstream client without sockets: ``H2ClientConnection`` against an in-memory ``h2`` server.

Frames go from the client's transport into a server-side ``h2`` state machine and back; each test checks what the
server saw (headers, DATA, RST_STREAM codes, WINDOW_UPDATEs) and what the proxy got (response heads, bodies,
trailers, errors).
"""

from __future__ import annotations

import asyncio

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.settings
import pytest
from edge_wire import MockSource, MockTransport, async_test
from hyperframe.frame import GoAwayFrame, SettingsFrame

from hanzo_edge.http.body import BodyError, StreamBody
from hanzo_edge.http.errors import UpstreamProtocolError, UpstreamTimeout
from hanzo_edge.http.h2.client import H2ClientConnection, StreamRefused
from hanzo_edge.http.h2.target import h2_request_headers
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request

GET = [(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"app"), (b":path", b"/")]


class Server:
    """A server-side h2 state machine wired to a client connection through mock transports."""

    def __init__(self, settings: dict[int, int] | None = None, **client_options: float) -> None:
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding=None))
        self.h2.initiate_connection()
        if settings:
            self.h2.update_settings(settings)
        self.events: list[h2.events.Event] = []
        self.client = H2ClientConnection(**client_options)  # type: ignore[arg-type]
        self.transport = MockTransport(asyncio.get_running_loop())
        self.transport.protocol = self.client
        self.client.connection_made(self.transport)  # type: ignore[arg-type]
        self.pump()

    def pump(self) -> list[h2.events.Event]:
        """Move bytes both ways until both sides are quiet; return the server's new events."""
        new: list[h2.events.Event] = []
        for _ in range(20):
            self.client.flush()  # what the client would write at the end of this loop iteration
            out = b"".join(self.transport.writes)
            self.transport.clear()
            if out:
                new += self.h2.receive_data(out)
            back = self.h2.data_to_send()
            if back:
                self.client.data_received(back)
            if not out and not back:
                break
        self.events += new
        return new

    def of(self, kind: type[h2.events.Event]) -> list[h2.events.Event]:
        return [e for e in self.events if isinstance(e, kind)]

    def respond(self, stream_id: int, body: bytes = b"", trailers: list[tuple[bytes, bytes]] | None = None) -> None:
        self.h2.send_headers(stream_id, [(b":status", b"200"), (b"content-type", b"application/grpc")])
        if body:
            self.h2.send_data(stream_id, body, end_stream=trailers is None)
        if trailers is not None:
            self.h2.send_headers(stream_id, trailers, end_stream=True)
        elif not body:
            self.h2.end_stream(stream_id)
        self.pump()


@async_test
async def test_a_request_and_its_response_with_trailers() -> None:
    server = Server()
    stream = server.client.request(GET, b"")
    server.pump()
    received = server.of(h2.events.RequestReceived)
    assert len(received) == 1
    assert received[0].stream_ended is not None
    server.respond(stream.stream_id, b"\x00\x00\x00\x00\x02hi", [(b"grpc-status", b"0"), (b"grpc-message", b"ok")])
    response = await asyncio.wait_for(stream.future, 1)
    assert response.status == 200
    assert response.headers.get("content-type") == "application/grpc"
    body = response.body
    assert isinstance(body, StreamBody)
    assert await body.read() == b"\x00\x00\x00\x00\x02hi"
    assert body.trailers == [(b"grpc-status", b"0"), (b"grpc-message", b"ok")]
    assert server.client.active_streams == 0  # the slot is free again


@async_test
async def test_a_streamed_request_body_goes_out_as_data_frames_then_its_trailers() -> None:
    server = Server()
    source = MockSource()
    body = StreamBody(source)
    stream = server.client.request([*GET[:1], *GET[1:]], body)
    body.feed(b"one")
    server.pump()
    body.feed(b"two")
    body.trailers = [(b"x-req-trailer", b"yes")]
    body.feed_eof()
    server.pump()
    data = b"".join(e.data or b"" for e in server.of(h2.events.DataReceived))
    assert data == b"onetwo"
    trailers = server.of(h2.events.TrailersReceived)
    assert trailers
    assert list(trailers[0].headers or []) == [(b"x-req-trailer", b"yes")]
    assert server.of(h2.events.StreamEnded)
    server.respond(stream.stream_id)
    assert (await asyncio.wait_for(stream.future, 1)).status == 200


@async_test
async def test_a_request_body_larger_than_the_window_waits_and_pauses_its_client() -> None:
    server = Server()
    source = MockSource()
    body = StreamBody(source)
    stream = server.client.request(GET, body)
    body.feed(b"x" * 100_000)  # the server's initial stream window is 65,535 bytes
    server.pump()
    got = sum(len(e.data or b"") for e in server.of(h2.events.DataReceived))
    assert got == 65_535
    assert source.paused  # the rest waits, and the client's socket is paused
    # The server consumes: it opens the window; the rest goes out and the client resumes.
    server.h2.acknowledge_received_data(got, stream.stream_id)
    server.pump()
    got = sum(len(e.data or b"") for e in server.of(h2.events.DataReceived))
    assert got == 100_000
    assert not source.paused


@async_test
async def test_a_slow_consumer_holds_the_window_of_its_stream_only() -> None:
    server = Server()
    slow = server.client.request(GET, b"")
    fast = server.client.request(GET, b"")
    server.pump()
    server.h2.send_headers(slow.stream_id, [(b":status", b"200")])
    server.h2.send_headers(fast.stream_id, [(b":status", b"200")])
    server.pump()
    slow_resp = await slow.future
    fast_resp = await fast.future
    assert isinstance(slow_resp.body, StreamBody)
    assert isinstance(fast_resp.body, StreamBody)
    slow_resp.body.pause()  # the client of this stream is not reading
    before = server.h2.local_flow_control_window(slow.stream_id)
    for _ in range(4):
        server.h2.send_data(slow.stream_id, b"s" * 10_000)
        server.h2.send_data(fast.stream_id, b"f" * 10_000)
    server.pump()
    # The fast stream's credit was given back at once; the slow one's is held, and so is the backend's window.
    assert (fast.held, slow.held) == (0, 40_000)
    assert server.h2.local_flow_control_window(slow.stream_id) == before - 40_000
    slow_resp.body.resume()
    assert slow.held == 0
    # Once more than half the window was consumed and given back, the backend sees WINDOW_UPDATE for the stream.
    slow_resp.body.drain()  # a consumer that keeps up
    for _ in range(60):
        server.h2.send_data(slow.stream_id, b"s" * 10_000)
        server.pump()
    assert server.h2.local_flow_control_window(slow.stream_id) > before - 640_000


@async_test
async def test_abandoning_a_response_resets_that_stream_with_cancel_only() -> None:
    server = Server()
    gone = server.client.request(GET, b"")
    kept = server.client.request(GET, b"")
    server.pump()
    server.h2.send_headers(gone.stream_id, [(b":status", b"200")])
    server.h2.send_headers(kept.stream_id, [(b":status", b"200")])
    server.pump()
    gone_resp = await gone.future
    assert isinstance(gone_resp.body, StreamBody)
    gone_resp.body.discard()  # the client went away mid-response
    server.pump()
    resets = server.of(h2.events.StreamReset)
    assert [(r.stream_id, r.error_code) for r in resets] == [(gone.stream_id, h2.errors.ErrorCodes.CANCEL)]
    server.h2.send_data(kept.stream_id, b"ok", end_stream=True)
    server.pump()
    kept_resp = await kept.future
    assert isinstance(kept_resp.body, StreamBody)
    assert await kept_resp.body.read() == b"ok"


@async_test
async def test_a_cancelled_waiter_resets_its_stream() -> None:
    server = Server()
    stream = server.client.request(GET, b"")
    server.pump()
    stream.cancel()
    server.pump()
    assert [r.error_code for r in server.of(h2.events.StreamReset)] == [h2.errors.ErrorCodes.CANCEL]
    assert server.client.active_streams == 0


@async_test
async def test_refused_streams_and_goaway_are_retryable_errors_other_resets_are_not() -> None:
    server = Server()
    refused = server.client.request(GET, b"")
    reset = server.client.request(GET, b"")
    server.pump()
    server.h2.reset_stream(refused.stream_id, h2.errors.ErrorCodes.REFUSED_STREAM)
    server.h2.reset_stream(reset.stream_id, h2.errors.ErrorCodes.INTERNAL_ERROR)
    server.pump()
    with pytest.raises(StreamRefused):
        await refused.future
    with pytest.raises(UpstreamProtocolError, match="INTERNAL_ERROR") as info:
        await reset.future
    assert not isinstance(info.value, StreamRefused)

    processed = server.client.request(GET, b"")
    unprocessed = server.client.request(GET, b"")
    server.pump()
    # GOAWAY straight from the wire (h2's own close_connection would stop the test server from answering).
    server.client.data_received(GoAwayFrame(0, last_stream_id=processed.stream_id).serialize())
    with pytest.raises(StreamRefused):
        await unprocessed.future
    assert not server.client.can_open()  # no new stream after GOAWAY
    server.respond(processed.stream_id, b"done")  # streams below last_stream_id still complete
    resp = await processed.future
    assert isinstance(resp.body, StreamBody)
    assert await resp.body.read() == b"done"


@async_test
async def test_the_backends_max_concurrent_streams_is_respected() -> None:
    server = Server({h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 2})
    assert server.client.max_streams == 2
    a = server.client.request(GET, b"")
    server.client.request(GET, b"")
    assert not server.client.can_open()
    server.pump()
    server.respond(a.stream_id)
    assert server.client.can_open()


@async_test
async def test_100_streams_before_settings_and_go_s_1000_when_settings_name_no_limit() -> None:
    client = H2ClientConnection()
    transport = MockTransport(asyncio.get_running_loop())
    transport.protocol = client
    client.connection_made(transport)  # type: ignore[arg-type]
    assert client.max_streams == 100
    client.data_received(SettingsFrame(0, settings={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 65535}).serialize())
    assert client.max_streams == 1000


@async_test
async def test_the_connection_lost_fails_waiters_and_bodies() -> None:
    server = Server()
    waiting = server.client.request(GET, b"")
    streaming = server.client.request(GET, b"")
    server.pump()
    server.h2.send_headers(streaming.stream_id, [(b":status", b"200")])
    server.pump()
    resp = await streaming.future
    server.client.connection_lost(None)
    with pytest.raises(UpstreamProtocolError, match="closed"):
        await waiting.future
    assert isinstance(resp.body, StreamBody)
    with pytest.raises(BodyError):
        await resp.body.read()


@async_test
async def test_response_header_timeout_is_504_and_resets_the_stream() -> None:
    server = Server()
    stream = server.client.request(GET, b"", response_header_timeout=0.01)
    with pytest.raises(UpstreamTimeout):
        await asyncio.wait_for(stream.future, 1)
    server.pump()
    assert [r.error_code for r in server.of(h2.events.StreamReset)] == [h2.errors.ErrorCodes.CANCEL]


@async_test
async def test_an_unanswered_ping_closes_the_connection() -> None:
    server = Server()
    client = H2ClientConnection(read_idle_timeout=0.01, ping_timeout=0.02)
    transport = MockTransport(asyncio.get_running_loop())
    transport.protocol = client
    client.connection_made(transport)  # type: ignore[arg-type]
    for _ in range(100):
        if client.closed:
            break
        await asyncio.sleep(0.01)
    assert client.closed
    assert server.client.closed is False


def test_request_headers_translate_http11_to_http2() -> None:
    headers = Headers(
        [
            (b"Host", b"app.test"),
            (b"Connection", b"keep-alive, X-Hop"),
            (b"X-Hop", b"1"),
            (b"Keep-Alive", b"timeout=5"),
            (b"Transfer-Encoding", b"chunked"),
            (b"TE", b"trailers"),
            (b"Upgrade", b"h2c"),
            (b"X-Forwarded-For", b"10.0.0.9"),
            (b"Cookie", b"a=1"),
        ]
    )
    req = Request("POST", "/p", headers, path="/p", query="q=1", client_ip="192.0.2.7", body=b"abc")
    out = h2_request_headers(req, b"http", b"10.0.0.1:80", True, "/base")
    assert out[:4] == [
        (b":method", b"POST"),
        (b":scheme", b"http"),
        (b":authority", b"app.test"),
        (b":path", b"/base/p?q=1"),
    ]
    rest = dict(out[4:])
    assert b"connection" not in rest
    assert b"x-hop" not in rest
    assert b"keep-alive" not in rest
    assert b"transfer-encoding" not in rest
    assert b"upgrade" not in rest
    assert b"host" not in rest
    assert rest[b"te"] == b"trailers"
    assert rest[b"x-forwarded-for"] == b"10.0.0.9, 192.0.2.7"
    assert rest[b"cookie"] == b"a=1"
    assert rest[b"content-length"] == b"3"
    no_pass = h2_request_headers(req, b"https", b"10.0.0.1:8443", False, "")
    assert no_pass[1:3] == [(b":scheme", b"https"), (b":authority", b"10.0.0.1:8443")]


@async_test
async def test_an_answered_ping_keeps_a_quiet_connection_open() -> None:
    server = Server(read_idle_timeout=0.01, ping_timeout=0.05)
    client = server.client
    for _ in range(10):  # several quiet spells: each PING is answered by the backend
        await asyncio.sleep(0.02)
        server.pump()
    assert not client.closed
    assert any(type(e).__name__ == "PingReceived" for e in server.events)


@async_test
async def test_a_stream_over_the_limit_h2_counts_is_refused_retryably_and_not_sent() -> None:
    server = Server({h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 2})
    first = server.client.request(GET, b"")
    server.client.request(GET, b"")
    server.pump()
    server.client.max_streams = 5  # as if our count and h2's disagreed
    over = server.client.request(GET, b"")
    with pytest.raises(StreamRefused):
        await over.future
    assert not server.client.can_open()  # the connection counts as full until a stream ends
    server.respond(first.stream_id)
    assert server.client.can_open()
    assert len(server.of(h2.events.RequestReceived)) == 2


@async_test
async def test_a_paused_stream_reset_by_the_backend_gives_its_held_credit_back_to_the_connection() -> None:
    # The credit a paused stream holds is the connection's too: a stream that ends while paused must return it, or a
    # pooled connection loses a stream window per failed slow download until it can receive nothing at all.
    server = Server()
    credited: list[int] = []
    ack = server.client.h2.acknowledge_received_data

    def record(size: int, stream_id: int) -> None:
        credited.append(size)
        ack(size, stream_id)

    server.client.h2.acknowledge_received_data = record  # type: ignore[method-assign]
    stream = server.client.request(GET, b"")
    server.pump()
    server.h2.send_headers(stream.stream_id, [(b":status", b"200")])
    server.pump()
    response = await stream.future
    assert isinstance(response.body, StreamBody)
    response.body.pause()  # the client of this stream does not read
    for _ in range(3):
        server.h2.send_data(stream.stream_id, b"s" * 10_000)
    server.pump()
    assert stream.held == 30_000
    server.h2.reset_stream(stream.stream_id, h2.errors.ErrorCodes.INTERNAL_ERROR)  # the backend fails mid-body
    server.pump()
    assert response.body.error is not None
    assert sum(credited) == 30_000
    assert stream.held == 0


@async_test
async def test_a_graceful_goaway_read_with_the_rest_of_a_response_lets_it_finish() -> None:
    # A draining backend sends GOAWAY (NO_ERROR, naming the stream) and goes on answering it; both often arrive in
    # one read. The stream completes and the connection closes after it.
    server = Server()
    stream = server.client.request(GET, b"")
    server.pump()
    server.h2.send_headers(stream.stream_id, [(b":status", b"200")])
    server.pump()
    response = await stream.future
    assert isinstance(response.body, StreamBody)
    goaway = GoAwayFrame(0)
    goaway.last_stream_id = stream.stream_id
    server.h2.send_data(stream.stream_id, b"rest of the body", end_stream=True)
    server.client.data_received(bytes(goaway.serialize()) + server.h2.data_to_send())
    assert await asyncio.wait_for(response.body.read(), 1) == b"rest of the body"
    assert not server.client.can_open()
    server.pump()
    assert server.client.closed
