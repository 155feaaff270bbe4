"""Hypothesis: any sequence of HTTP/2 frames (valid, malformed or hostile) after the preface is either served or
ends the connection with a GOAWAY; nothing escapes ``data_received``, and every request that reaches the pipeline
is well-formed (a routable host, an origin-form path, no connection-specific field).
"""

from __future__ import annotations

import asyncio

from h2_wire import H2Wire
from hpack import Encoder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from h2_client import H2Peer
from hanzo_edge.http.h2 import PREFACE

NAMES = st.sampled_from(
    [
        b":method",
        b":path",
        b":authority",
        b":scheme",
        b"host",
        b"x-a",
        b"X-Up",
        b"te",
        b"connection",
        b"content-length",
        b"cookie",
        b"transfer-encoding",
        b":protocol",
        b"",
    ]
)
VALUES = st.sampled_from([b"GET", b"POST", b"/", b"*", b"a.test", b"http", b"trailers", b"1", b"x\r\ny", b"", b"-1"])
BLOCKS = st.lists(st.tuples(NAMES, VALUES), max_size=8)
SIDS = st.sampled_from([0, 1, 2, 3, 5, 7, 2**31 - 1])
FLAGS = st.sampled_from([0x0, 0x1, 0x4, 0x5, 0x8, 0x20, 0x25])


def _frame(kind: int, flags: int, sid: int, payload: bytes) -> bytes:
    """One frame by hand, so stream 0, wrong lengths and unknown types are all expressible."""
    return len(payload).to_bytes(3, "big") + bytes([kind, flags]) + sid.to_bytes(4, "big") + payload


@st.composite
def frames(draw: st.DrawFn) -> bytes:
    kind = draw(st.integers(0, 11))
    payloads = {
        0: st.binary(max_size=64),
        1: BLOCKS.map(lambda block: Encoder().encode(block)),
        2: st.binary(min_size=4, max_size=6),
        3: st.binary(min_size=3, max_size=5),
        4: st.lists(st.tuples(st.integers(0, 9), st.integers(0, 2**32 - 1)), max_size=3).map(
            lambda pairs: b"".join(k.to_bytes(2, "big") + v.to_bytes(4, "big") for k, v in pairs)
        ),
        6: st.binary(min_size=7, max_size=9),
        7: st.binary(min_size=8, max_size=12),
        8: st.integers(0, 2**31 - 1).map(lambda n: n.to_bytes(4, "big")),
        9: st.binary(max_size=16),
    }
    payload = draw(payloads.get(kind, st.binary(max_size=16)))
    return _frame(kind, draw(FLAGS), draw(SIDS), payload)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(frames(), min_size=1, max_size=12), st.booleans())
def test_any_frames_are_served_or_end_with_goaway(sequence: list[bytes], valid_first: bool) -> None:
    asyncio.run(_run(sequence, valid_first))


async def _run(sequence: list[bytes], valid_first: bool) -> None:
    wire = H2Wire(send_preface=False)
    peer = H2Peer()
    data = peer.outbox()
    assert data.startswith(PREFACE)
    wire.send(data)  # preface + the client's SETTINGS
    if valid_first:
        sid = peer.request("/ok", authority="a.test")
        wire.send(peer.outbox())
        assert sid == 1
    for chunk in sequence:
        if wire.transport.closed:
            break
        wire.send(chunk)  # must not raise, whatever the frame
        await asyncio.sleep(0)
    for _ in range(10):
        await asyncio.sleep(0)
    if wire.transport.closed:
        # Our GOAWAY went out first, unless the client said goodbye itself (its GOAWAY) and nothing was open.
        goaway_sent = b"\x07\x00\x00\x00\x00\x00" in wire.transport.output
        assert goaway_sent or wire.proto.calmed or wire.proto.goaway_last is not None
    for req in wire.seen:
        assert req.host
        assert req.path.startswith("/")
        names = {name.lower() for name, _ in req.headers.raw}
        assert not names & {b"connection", b"transfer-encoding", b"upgrade", b"keep-alive"}
    wire.ctx.stop()
    await asyncio.sleep(0)
