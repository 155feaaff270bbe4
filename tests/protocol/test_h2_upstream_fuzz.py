"""The HTTP/2 upstream client as a state machine under random backend and client behaviour (Hypothesis).

Random interleavings of: opening streams, the backend answering (HEADERS, DATA of random sizes, trailers, END_STREAM),
the backend resetting streams with random codes, the client cancelling waits or abandoning bodies, and slow consumers
pausing and resuming. Whatever happens: nothing raises out of the protocol, every waiter is answered exactly once,
every response body ends exactly once (EOF or error), and once every stream is over no slot is left taken.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h2.config
import h2.connection
import h2.errors
import h2.exceptions
from edge_wire import MockTransport
from hypothesis import given, settings
from hypothesis import strategies as st

from hanzo_edge.http.body import StreamBody
from hanzo_edge.http.h2.client import H2ClientConnection, H2UpstreamStream

GET = [(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"app"), (b":path", b"/")]

KINDS = ["open", "headers", "data", "trailers", "end", "reset", "cancel", "discard", "pause", "resume"]
ACTIONS = st.lists(
    st.tuples(
        st.sampled_from(
            ["open", "headers", "data", "trailers", "end", "reset", "cancel", "discard", "pause", "resume"]
        ),
        st.integers(0, 7),
        st.integers(0, 70_000),
    ),
    max_size=60,
)


class World:
    def __init__(self) -> None:
        self.server = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding=None))
        self.server.initiate_connection()
        self.client = H2ClientConnection()
        self.transport = MockTransport(asyncio.get_running_loop())
        self.transport.protocol = self.client
        self.client.connection_made(self.transport)  # type: ignore[arg-type]
        self.streams: list[H2UpstreamStream] = []
        self.state: dict[int, str] = {}  # server side: open → headers → ended

    def pump(self) -> None:
        for _ in range(50):
            self.client.flush()
            out = b"".join(self.transport.writes)
            self.transport.clear()
            if out:
                self._server_receive(out)
            back = self.server.data_to_send()
            if back:
                self.client.data_received(back)
            if not out and not back:
                return

    def _server_receive(self, data: bytes) -> None:
        for event in self.server.receive_data(data):
            size = getattr(event, "flow_controlled_length", None)
            if size:
                self.server.acknowledge_received_data(size, event.stream_id)
            if type(event).__name__ == "StreamReset":
                self.state[event.stream_id] = "ended"

    def act(self, action: str, index: int, size: int) -> None:
        if action == "open":
            if self.client.can_open():
                self.streams.append(self.client.request(GET, b""))
                self.state[self.streams[-1].stream_id] = "open"
                self.pump()
            return
        if not self.streams:
            return
        stream = self.streams[index % len(self.streams)]
        sid = stream.stream_id
        state = self.state.get(sid, "ended")
        try:
            if action == "headers" and state == "open":
                self.server.send_headers(sid, [(b":status", b"200")])
                self.state[sid] = "headers"
            elif action == "data" and state == "headers":
                window = min(self.server.local_flow_control_window(sid), size)
                chunk = min(window, self.server.max_outbound_frame_size)
                if chunk > 0:
                    self.server.send_data(sid, b"d" * chunk)
            elif action == "trailers" and state == "headers":
                self.server.send_headers(sid, [(b"grpc-status", b"0")], end_stream=True)
                self.state[sid] = "ended"
            elif action == "end" and state in ("open", "headers"):
                if state == "open":
                    self.server.send_headers(sid, [(b":status", b"204")], end_stream=True)
                else:
                    self.server.end_stream(sid)
                self.state[sid] = "ended"
            elif action == "reset" and state != "ended":
                codes = list(h2.errors.ErrorCodes)
                self.server.reset_stream(sid, codes[size % len(codes)])
                self.state[sid] = "ended"
        except h2.exceptions.StreamClosedError:
            self.state[sid] = "ended"  # the client reset it first
        if action == "cancel" and not stream.future.done():
            stream.cancel()
        elif action in ("discard", "pause", "resume") and isinstance(stream.body, StreamBody):
            getattr(stream.body, {"discard": "discard", "pause": "pause", "resume": "resume"}[action])()
        self.pump()

    def finish(self) -> None:
        """The backend ends every stream still open; consumers drain what they hold."""
        for stream in self.streams:
            sid = stream.stream_id
            state = self.state.get(sid, "ended")
            try:
                if state == "open":
                    self.server.send_headers(sid, [(b":status", b"200")], end_stream=True)
                elif state == "headers":
                    self.server.end_stream(sid)
            except h2.exceptions.StreamClosedError:
                pass
            self.state[sid] = "ended"
            if isinstance(stream.body, StreamBody):
                stream.body.drain()
                stream.body.resume()
        self.pump()


@settings(max_examples=150, deadline=None)
@given(ACTIONS)
def test_random_backend_and_client_behaviour_keeps_the_invariants(actions: list[tuple[str, int, int]]) -> None:
    async def run() -> None:
        world = World()
        world.pump()
        for action in actions:
            world.act(*action)
        world.finish()
        outcomes: list[Any] = []
        for stream in world.streams:
            assert stream.future.done()
            outcomes.append(stream.future.exception() or stream.future.result())
            body = stream.body
            if body is not None:
                # Ended exactly once: either the whole body arrived or it failed, never both, never neither.
                assert body.at_eof != (body.error is not None)
        assert world.client.active_streams == 0
        assert not world.client.closed

    asyncio.run(run())
