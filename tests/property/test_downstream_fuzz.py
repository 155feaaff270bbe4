"""Fuzz the downstream parser boundary: whatever bytes arrive, in whatever pieces, the protocol parses them or answers
a 4xx, 501 or 505 and closes; nothing escapes ``data_received`` and nothing but a status line is ever written first.

The invariant itself is ``edge_wire.check_downstream`` (shared with the atheris script ``fuzz/downstream.py``).
"""

from __future__ import annotations

import sys
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "protocol"))

from edge_wire import check_downstream, split_at

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

GOOD_METHODS = [b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"OPTIONS", b"PATCH"]
BAD_METHODS = [b"CONNECT", b"get", b"G ET", b"BAN", b""]
GOOD_TARGETS = [b"/", b"/missing", b"/a/../b", b"/%41%2f", b"/p?a=1;b=2", b"http://example.com/x", b"/a//b/./c/"]
BAD_TARGETS = [b"/a%zz", b"/a#frag", b"*", b"/" + b"a" * 600, b"/caf\xc3\xa9", b"", b"/a b"]
GOOD_VERSIONS = [b"HTTP/1.1", b"HTTP/1.1", b"HTTP/1.0"]
BAD_VERSIONS = [b"HTTP/2.0", b"HTTP/1.x", b"http/1.1", b""]
GOOD_HEADERS = [
    b"Accept: */*",
    b"Connection: close",
    b"Connection: keep-alive",
    b"Expect: 100-continue",
    b"X-Forwarded-For: 6.6.6.6",
    b"X_Real_Ip: 6.6.6.6",
    b"Connection: Upgrade",
    b"Upgrade: websocket",
    b"User-Agent: fuzz",
]
BAD_HEADERS = [
    b"Host: a",
    b"Content-Length: 5",
    b"Content-Length: -1",
    b"Content-Length: 99999999999999999999",
    b"Transfer-Encoding: chunked",
    b"Transfer-Encoding: gzip, chunked",
    b"Transfer-Encoding: identity",
    b"X-Big: " + b"b" * 600,
    b"Bad Name: v",
    b" folded",
    b"NoColon",
]
FRAMED_BODIES = [b"", b"hello", b"x" * 3000]
RAW_BODIES = [b"5\r\nhello\r\n0\r\n\r\n", b"zz\r\n", b"0\r\nX-T: 1\r\n\r\n", b"hello"]
NEWLINES = [b"\n", b"\r", b"\r\r\n"]


def mostly(draw: st.DrawFn, good: list[bytes], bad: list[bytes], odds: int = 8) -> bytes:
    """Draw from ``good`` about ``odds`` times in ``odds + 1``, else from ``bad``."""
    return draw(st.sampled_from(bad if draw(st.integers(0, odds)) == 0 else good))


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    """One plausible HTTP/1.x request, mostly valid, with a hostile part now and then."""
    nl = draw(st.sampled_from(NEWLINES)) if draw(st.integers(0, 15)) == 0 else b"\r\n"
    line = b" ".join(
        [
            mostly(draw, GOOD_METHODS, BAD_METHODS),
            mostly(draw, GOOD_TARGETS, BAD_TARGETS),
            mostly(draw, GOOD_VERSIONS, BAD_VERSIONS),
        ]
    )
    headers = [] if draw(st.integers(0, 9)) == 0 else [b"Host: example.com"]
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.integers(0, 9))
        if kind == 0:
            headers.append(draw(st.binary(max_size=40)))
        else:
            headers.append(mostly(draw, GOOD_HEADERS, BAD_HEADERS, odds=3))
    framing = draw(st.sampled_from(["none", "length", "chunked", "raw"]))
    if framing == "length":
        body = draw(st.sampled_from(FRAMED_BODIES))
        headers.append(b"Content-Length: %d" % len(body))
    elif framing == "chunked":
        parts = draw(st.lists(st.sampled_from(FRAMED_BODIES[1:]), max_size=3))
        body = b"".join(b"%x\r\n%b\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"
        headers.append(b"Transfer-Encoding: chunked")
    elif framing == "raw":
        body = draw(st.sampled_from(RAW_BODIES))
    else:
        body = b""
    headers = draw(st.permutations(headers))
    return line + nl + b"".join(h + nl for h in headers) + nl + body


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """One to three requests, pipelined, then byte-level mutations."""
    data = bytearray(b"".join(draw(st.lists(requests(), min_size=1, max_size=3))))
    for _ in range(draw(st.integers(0, 4))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        op = draw(st.sampled_from(["flip", "insert", "delete", "duplicate"]))
        if op == "flip":
            data[at] = draw(st.integers(0, 255))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=4))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 8))]
        else:
            data[at:at] = data[at : at + draw(st.integers(1, 16))]
    return bytes(data)


CUTS = st.lists(st.integers(0, 4000), max_size=6)
"""Where the bytes are cut into reads (offsets past the end are clamped by ``split_at``)."""

# Regressions the fuzz found; replayed on every run.
EXPECT_CONTINUE_THEN_GARBAGE = (
    b"GET / HTTP/2.0\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nCONNECT /a%zz HTTP/2.0\n\n"
)


@FUZZ
@example(data=b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", cuts=[])  # the h2c preface: handed to HTTP/2
@example(data=b"PRI * HTTP/1.0\r\n\r\nSM\r\n\r\n", cuts=[7])  # a PRI line of another version: a 400
@given(data=st.binary(max_size=600), cuts=CUTS)
def test_arbitrary_bytes_never_break_the_protocol(data: bytes, cuts: list[int]) -> None:
    check_downstream(split_at(data, cuts))


@FUZZ
@example(data=EXPECT_CONTINUE_THEN_GARBAGE, cuts=[74])
@given(data=mutated(), cuts=CUTS)
def test_mutated_requests_never_break_the_protocol(data: bytes, cuts: list[int]) -> None:
    check_downstream(split_at(data, cuts))


@FUZZ
@given(data=st.lists(requests(), min_size=1, max_size=3).map(b"".join), cuts=CUTS)
def test_structured_requests_never_break_the_protocol(data: bytes, cuts: list[int]) -> None:
    check_downstream(split_at(data, cuts))


def test_split_at() -> None:
    assert split_at(b"abcdef", [2, 2, 10, -1]) == [b"ab", b"cdef"]
    assert split_at(b"", [0]) == []
