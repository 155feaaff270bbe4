"""The writer thread shared by the access log and the span shipper, and the span exporter's frame pipe."""

from __future__ import annotations

import io
import logging
import struct
import threading
from typing import Any

import pytest

from hanzo_edge.observability.tracing import FramePipe
from hanzo_edge.observability.writer_thread import WriterThread

WAIT = 5.0  # seconds: a bound for the thread, never a sleep


class RecordingSink:
    """Records each batch; can hold the thread inside a write until released, to let items queue up behind it."""

    def __init__(self) -> None:
        self.batches: list[list[bytes]] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.release.set()

    def write_batch(self, items: list[bytes | bytearray]) -> None:
        self.entered.set()
        assert self.release.wait(WAIT)
        self.batches.append([bytes(item) for item in items])


def test_items_queued_during_a_write_go_in_the_next_single_batch_and_calls_keep_their_place() -> None:
    sink = RecordingSink()
    writer = WriterThread(sink, "test-writer")
    assert not writer.started
    sink.release.clear()
    writer.submit(b"a")
    assert sink.entered.wait(WAIT)  # the thread is inside the first write
    order: list[str] = []
    writer.submit(b"b")
    writer.submit(b"c")
    barrier = writer.call(lambda: order.append(f"call after {len(sink.batches)} batches"))
    writer.submit(b"d")
    assert writer.backlog == 4  # "a" counts until its write returns
    sink.release.set()
    barrier.result(WAIT)
    writer.stop(lambda: order.append("final")).result(WAIT)
    writer.join(WAIT)
    assert sink.batches == [[b"a"], [b"b", b"c"], [b"d"]]
    assert order == ["call after 2 batches", "final"]
    assert writer.backlog == 0


def test_stop_before_any_item_runs_the_final_call_at_once_without_a_thread() -> None:
    writer = WriterThread(RecordingSink(), "test-writer")
    closed: list[bool] = []
    writer.stop(lambda: closed.append(True)).result(0)
    assert closed == [True]
    assert not writer.started


def test_a_failing_sink_or_call_does_not_end_the_thread(caplog: pytest.LogCaptureFixture) -> None:
    written: list[bytes] = []

    class FlakySink:
        def write_batch(self, items: list[bytes | bytearray]) -> None:
            if items[0] == b"boom":
                raise RuntimeError("disk on fire")
            written.extend(bytes(item) for item in items)

    def failing_call() -> None:
        raise OSError("cannot reopen")

    writer = WriterThread(FlakySink(), "test-writer")
    with caplog.at_level(logging.ERROR):
        writer.submit(b"boom")
        writer.call(failing_call).result(WAIT)
        writer.submit(b"ok")
        writer.stop(lambda: None).result(WAIT)
    assert written == [b"ok"]
    messages = [record.getMessage() for record in caplog.records]
    assert "test-writer: write failed" in messages
    assert "test-writer: failing_call failed" in messages
    assert writer.backlog == 0


def _frames(data: bytes) -> list[bytes]:
    frames = []
    while data:
        (size,) = struct.unpack(">I", data[:4])
        frames.append(data[4 : 4 + size])
        data = data[4 + size :]
    return frames


def test_frame_pipe_prefixes_each_frame_with_its_length_in_one_write() -> None:
    class Stdin(io.BytesIO):
        writes = 0

        def write(self, data: Any) -> int:
            self.writes += 1
            return super().write(data)

    stdin = Stdin()
    pipe = FramePipe(stdin)
    pipe.write_batch([b"first", bytearray(b"second frame")])
    assert stdin.writes == 1
    assert _frames(stdin.getvalue()) == [b"first", b"second frame"]
    pipe.close()
    assert stdin.closed


def test_frame_pipe_drops_frames_once_the_exporter_is_gone(caplog: pytest.LogCaptureFixture) -> None:
    class DeadStdin(io.BytesIO):
        def write(self, data: Any) -> int:
            raise BrokenPipeError(32, "Broken pipe")

    stdin = DeadStdin()
    pipe = FramePipe(stdin)
    with caplog.at_level(logging.ERROR):
        pipe.write_batch([b"x"])
        pipe.write_batch([b"y"])
    assert [r.getMessage() for r in caplog.records] == ["the span exporter process exited; spans are dropped"]
