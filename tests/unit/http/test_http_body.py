"""``StreamBody``: pull and push consumption, flow control, and how a body ends."""

from __future__ import annotations

import asyncio

import pytest

from hanzo_edge.http.body import BodyError, StreamBody, body_bytes


class Source:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def pause_reading(self) -> None:
        self.calls.append("pause")

    def resume_reading(self) -> None:
        self.calls.append("resume")


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


def test_read_collects_chunks_fed_later() -> None:
    async def scenario() -> bytes:
        body = StreamBody(Source(), 11)
        reader = asyncio.create_task(body.read())
        await asyncio.sleep(0)
        body.feed(b"hello")
        await asyncio.sleep(0)
        body.feed(b" world")
        body.feed_eof()
        return await reader

    assert asyncio.run(scenario()) == b"hello world"


def test_read_limit() -> None:
    async def scenario() -> None:
        body = StreamBody(None)
        body.feed(b"x" * 10)
        body.feed_eof()
        with pytest.raises(BodyError):
            await body.read(limit=5)

    asyncio.run(scenario())


def test_failed_body_raises_body_error() -> None:
    async def scenario() -> None:
        body = StreamBody(None)
        body.feed(b"abc")
        body.feed_error(ConnectionResetError("reset"))
        assert await body.read_chunk() == b"abc"
        with pytest.raises(BodyError):
            await body.read_chunk()

    asyncio.run(scenario())


def test_buffer_over_high_water_pauses_the_source_and_reading_resumes_it() -> None:
    async def scenario() -> list[str]:
        source = Source()
        body = StreamBody(source, None, high_water=4)
        body.feed(b"abc")
        assert source.calls == []
        body.feed(b"def")
        assert source.calls == ["pause"]
        await body.read_chunk()
        return source.calls

    assert asyncio.run(scenario()) == ["pause", "resume"]


def test_pump_sends_buffered_then_live_chunks_and_the_end() -> None:
    body = StreamBody(Source())
    body.feed(b"a")
    sink = Sink()
    body.pump(sink)
    body.feed(b"b")
    body.feed_eof()
    body.feed_eof()
    assert sink.chunks == [b"a", b"b"]
    assert sink.eof
    assert body.consumed


def test_pump_of_a_failed_body_aborts_the_sink() -> None:
    body = StreamBody(None)
    body.feed_error(ValueError("bad"))
    sink = Sink()
    body.pump(sink)
    assert isinstance(sink.error, ValueError)
    assert not sink.eof


def test_end_is_reported_once() -> None:
    body = StreamBody(None)
    body.feed_eof()
    body.feed_error(ValueError("late"))
    assert body.at_eof
    assert body.error is None


def test_body_bytes() -> None:
    async def scenario() -> tuple[bytes, bytes]:
        body = StreamBody(None)
        body.feed(b"xy")
        body.feed_eof()
        return await body_bytes(b"raw"), await body_bytes(body)

    assert asyncio.run(scenario()) == (b"raw", b"xy")
