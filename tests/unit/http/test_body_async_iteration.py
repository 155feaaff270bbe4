"""``async for chunk in body``: the pull API middlewares use, served by an async iterator class (not an async
generator, which mypyc cannot compile: benchmarks/results/compile_lever.md)."""

from __future__ import annotations

import asyncio

import pytest

from hanzo_edge.http.body import BodyError, StreamBody


class Source:
    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def test_async_for_yields_each_chunk_as_it_arrives_and_stops_at_the_end() -> None:
    async def scenario() -> list[bytes]:
        body = StreamBody(Source(), None)
        loop = asyncio.get_running_loop()
        loop.call_soon(body.feed, b"ab")
        loop.call_soon(body.feed, b"cd")
        loop.call_soon(body.feed_eof)
        return [chunk async for chunk in body]

    assert asyncio.run(scenario()) == [b"ab", b"cd"]


def test_async_for_over_an_empty_body_yields_nothing() -> None:
    async def scenario() -> list[bytes]:
        body = StreamBody(Source(), 0)
        body.feed_eof()
        return [chunk async for chunk in body]

    assert asyncio.run(scenario()) == []


async def _collect(body: StreamBody, seen: list[bytes]) -> None:
    async for chunk in body:
        seen.append(chunk)


def test_async_for_raises_body_error_when_the_source_fails_midway() -> None:
    async def scenario() -> list[bytes]:
        body = StreamBody(Source(), None)
        body.feed(b"first")
        asyncio.get_running_loop().call_soon(body.feed_error, ConnectionResetError("reset"))
        seen: list[bytes] = []
        with pytest.raises(BodyError):
            await _collect(body, seen)
        return seen

    assert asyncio.run(scenario()) == [b"first"]
