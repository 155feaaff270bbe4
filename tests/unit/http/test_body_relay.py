"""Giving a body up (``drain``/``discard``), continuing it as another (``BodyRelay``), and who may touch its source."""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path

import pytest

from hanzo_edge.http.body import BodyError, BodyRelay, StreamBody, relayed

SRC = Path(__file__).resolve().parents[3] / "src" / "hanzo_edge"


class Source:
    """A body source (an upstream connection stand-in) recording flow control and closing."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def pause_reading(self) -> None:
        self.calls.append("pause")

    def resume_reading(self) -> None:
        self.calls.append("resume")

    def close(self) -> None:
        self.calls.append("close")


class Sink:
    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.eof = False
        self.error: BaseException | None = None

    def write(self, chunk: bytes) -> None:
        self.chunks.append(chunk)

    def write_eof(self) -> None:
        self.eof = True

    def abort(self, exc: BaseException) -> None:
        self.error = exc


# -- drain and discard -------------------------------------------------------------------------------------------------


def test_discard_drops_the_rest_and_closes_a_source_still_sending() -> None:
    source = Source()
    body = StreamBody(source, 100)
    body.feed(b"abc")
    body.discard()
    assert source.calls[-1] == "close"
    assert body.consumed
    assert body.take_buffered() == []  # the buffered chunk went nowhere
    body.feed(b"late")  # what the source still delivers before its socket closes is dropped too
    assert body.take_buffered() == []


def test_discard_leaves_a_source_that_delivered_the_whole_body_alone() -> None:
    # Its connection finished the message and is back in its pool: closing it would kill another exchange.
    source = Source()
    body = StreamBody(source, 3)
    body.feed(b"abc")
    body.feed_eof()
    body.discard()
    assert "close" not in source.calls
    assert body.take_buffered() == []


def test_discard_drains_a_small_declared_body_to_keep_its_connection() -> None:
    source = Source()
    body = StreamBody(source, 10)
    body.discard(drain_up_to=10)
    assert "close" not in source.calls
    assert body.consumed
    big_source = Source()
    StreamBody(big_source, 11).discard(drain_up_to=10)
    assert big_source.calls[-1] == "close"


def test_discard_of_an_unknown_length_body_closes_whatever_the_drain_allowance() -> None:
    source = Source()
    StreamBody(source, None).discard(drain_up_to=1 << 20)
    assert source.calls[-1] == "close"


def test_drain_never_closes_and_lets_the_source_finish() -> None:
    source = Source()
    body = StreamBody(source, None)
    body.feed(b"x" * (300 * 1024))  # past high water: the source was paused
    assert source.calls == ["pause"]
    body.drain()
    assert source.calls == ["pause", "resume"]  # reading on, to the end of the message
    body.feed_eof()
    assert "close" not in source.calls


def test_drain_of_a_body_someone_already_consumes_changes_nothing() -> None:
    body = StreamBody(Source(), None)
    sink = Sink()
    body.pump(sink)
    body.drain()
    body.feed(b"abc")
    assert sink.chunks == [b"abc"]


def test_discard_after_the_consumer_failed_closes_the_source_it_was_pumped_from() -> None:
    # The server's client went away mid-response: it fails the body it was relaying, then gives it up.
    source = Source()
    body = StreamBody(source, None)
    sink = Sink()
    body.pump(sink)
    body.feed_error(ConnectionResetError("client disconnected"))
    body.discard()
    assert isinstance(sink.error, ConnectionResetError)
    assert source.calls[-1] == "close"


# -- the relay ---------------------------------------------------------------------------------------------------------


def test_relayed_body_is_the_prefix_then_the_rest_with_the_original_length() -> None:
    async def scenario() -> None:
        inner = StreamBody(Source(), 9)
        out = relayed(inner, (b"abc", b"", b"def"))
        assert out.length == 9
        assert inner.consumed
        inner.feed(b"ghi")
        inner.feed_eof()
        assert await out.read() == b"abcdefghi"

    asyncio.run(scenario())


def test_relay_flow_control_and_close_reach_the_original_source() -> None:
    source = Source()
    inner = StreamBody(source, None)
    out = relayed(inner)
    sink = Sink()
    out.pump(sink)
    out.pause()
    out.resume()
    assert source.calls[-2:] == ["pause", "resume"]
    out.discard()  # the consumer gives the relayed body up
    assert source.calls[-1] == "close"


def test_relayed_body_fails_when_the_original_does() -> None:
    async def scenario() -> None:
        inner = StreamBody(Source(), None)
        out = relayed(inner, (b"a",))
        inner.feed_error(ConnectionResetError("backend reset"))
        assert await out.read_chunk() == b"a"
        with pytest.raises(BodyError):
            await out.read_chunk()

    asyncio.run(scenario())


def test_relay_subclass_transforms_chunks_and_its_prefix() -> None:
    class Upper(BodyRelay):
        __slots__ = ()

        def write(self, chunk: bytes) -> None:
            self.body.feed(chunk.upper())

    inner = StreamBody(Source(), None)
    out = Upper(inner, StreamBody(None), (b"ab",)).body
    inner.feed(b"cd")
    inner.feed_eof()
    assert out.take_buffered() == [b"AB", b"CD"]
    assert out.at_eof


def test_relay_refuses_a_body_that_already_has_a_source() -> None:
    with pytest.raises(ValueError, match="source"):
        BodyRelay(StreamBody(Source()), StreamBody(Source()))


# -- structure ---------------------------------------------------------------------------------------------------------


def _source_touches(text: str) -> list[int]:
    """Lines of every ``x._source`` and ``getattr/hasattr/setattr(x, "_source", ...)`` in Python source ``text``."""
    lines: list[int] = []
    for node in ast.walk(ast.parse(text)):
        attribute = isinstance(node, ast.Attribute) and node.attr == "_source"
        by_name = (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "hasattr", "setattr")
            and any(isinstance(a, ast.Constant) and a.value == "_source" for a in node.args)
        )
        if attribute or by_name:
            lines.append(node.lineno)  # type: ignore[attr-defined]
    return lines


def test_no_module_but_body_touches_a_body_source() -> None:
    # Whoever gives a body up says so to the body (drain/discard); relays go through BodyRelay. A module reaching
    # into StreamBody._source would bypass both (and the end-of-body check that keeps pooled connections alive).
    body_module = SRC / "http" / "body.py"
    modules = sorted(SRC.rglob("*.py"))
    assert body_module in modules
    touches = [
        f"{m.relative_to(SRC)}:{line}" for m in modules if m != body_module for line in _source_touches(m.read_text())
    ]
    assert touches == []


def test_the_structure_check_sees_both_shapes_it_forbids() -> None:
    snippet = (
        "from hanzo_edge.middlewares._source import ip_strategy\n"  # a module named _source is no body's source
        "close = getattr(getattr(body, '_source', None), 'close', None)\n"
        "body._source.close()\n"
    )
    assert _source_touches(snippet) == [2, 3]
