"""Access log output (issue 22): a regular file or /dev/null is written on the event loop, one write per batch of
at most 64 KiB, with no thread; slow writes in a row move it to the writer thread without losing or reordering lines;
pipes and streams keep the thread; reopen (SIGUSR1) keeps every line."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request
from hanzo_edge.observability.accesslog import DIRECT_BATCH_BYTES, AccessLog
from hanzo_edge.observability.accesslog.output import BARRIER, SLOW_WRITES, LogOutput

WAIT = 5.0  # seconds: a bound for the writer thread, never a sleep


def _request(n: int) -> Request:
    target = f"/item/{n}"
    req = Request(
        "GET",
        target,
        Headers([(b"Host", b"app.test")]),
        path=target,
        query="",
        version="1.1",
        host="app.test",
        client_ip="10.0.0.1",
        client_port=40000,
        scheme="http",
        body=b"",
        entry_point="web",
    )
    req.server_url = "http://10.0.0.2:80"
    return req


def _numbers(path: Path) -> list[int]:
    """The request numbers of a common-format log, in file order."""
    return [int(line.split(b" /item/")[1].split(b" ")[0]) for line in path.read_bytes().splitlines()]


class SteppingClock:
    """perf_counter stand-in: each write's start and end readings come from ``durations`` (seconds per write)."""

    def __init__(self, durations: list[float]) -> None:
        self._readings: Iterator[float] = iter(self._times(durations))

    @staticmethod
    def _times(durations: list[float]) -> list[float]:
        now, out = 0.0, []
        for took in durations:
            out += [now, now + took]
            now += took + 1.0
        return out

    def __call__(self) -> float:
        return next(self._readings)


def test_a_regular_file_and_dev_null_are_written_directly(tmp_path: Path) -> None:
    assert LogOutput(str(tmp_path / "a.log"), None).direct
    assert LogOutput(os.devnull, None).direct


def test_a_pipe_and_a_stream_keep_the_writer_thread(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a reader, so opening for writing does not block
    try:
        output = LogOutput(str(fifo), None)
        assert not output.direct
        output.submit(bytearray(b"through the thread\n"))
        output.command(BARRIER).result(WAIT)
        assert os.read(reader, 100) == b"through the thread\n"
        output.command("stop").result(WAIT)
    finally:
        os.close(reader)
    assert not LogOutput("", None).direct  # stdout


def test_file_lines_are_written_on_the_loop_without_a_thread(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    threads_before = threading.active_count()

    async def scenario() -> None:
        log = AccessLog(format="common", file_path=str(path))
        for n in range(3):
            log.observer(_request(n), 200, 5, 0.001, False)
        assert path.read_bytes() == b""  # handed over at the end of the loop iteration
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert _numbers(path) == [0, 1, 2]
        assert threading.active_count() == threads_before
        await log.aclose()

    asyncio.run(scenario())


def test_a_burst_is_written_in_batches_of_at_most_64_kib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "access.log"
    sizes: list[int] = []

    async def scenario() -> None:
        log = AccessLog(format="json", file_path=str(path))
        output = log._writer
        write = output._write_fd

        def recording(data: bytes | bytearray) -> None:
            sizes.append(len(data))
            write(data)

        monkeypatch.setattr(output, "_write_fd", recording)
        for n in range(1000):  # ~600 bytes a line: ~10 batches in one loop iteration
            log.observer(_request(n), 200, 5, 0.001, False)
        line = len(path.read_bytes().splitlines()[0]) + 1
        assert len(sizes) >= 5
        assert all(size < DIRECT_BATCH_BYTES + line for size in sizes)
        await log.aclose()

    asyncio.run(scenario())
    assert sum(sizes) == path.stat().st_size
    assert len(path.read_bytes().splitlines()) == 1000


def test_one_slow_write_does_not_move_the_output(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    # Slow (over SLOW_WRITE) but no stall (under STALL_WRITE): a preempted loop thread, not a sick disk.
    output = LogOutput(str(path), None, clock=SteppingClock([0.01, 0.0, 0.01, 0.01, 0.0]))
    for n in range(5):
        output.submit(bytearray(b"%d\n" % n))
    assert output.direct  # never SLOW_WRITES slow ones in a row
    assert output.stopped()
    assert path.read_bytes() == b"0\n1\n2\n3\n4\n"


def test_slow_writes_in_a_row_move_the_output_to_the_thread_in_order(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    output = LogOutput(str(path), None, clock=SteppingClock([0.5] * SLOW_WRITES))
    for n in range(SLOW_WRITES):
        output.submit(bytearray(b"%d\n" % n))
    assert not output.direct
    for n in range(SLOW_WRITES, SLOW_WRITES + 100):
        output.submit(bytearray(b"%d\n" % n))  # the clock is not read any more
    output.command(BARRIER).result(WAIT)
    assert not output.stopped()
    assert path.read_bytes().split() == [b"%d" % n for n in range(SLOW_WRITES + 100)]
    output.command("stop").result(WAIT)


def test_reopen_after_rename_keeps_every_line_in_order(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    rotated = tmp_path / "access.log.1"

    async def scenario() -> None:
        log = AccessLog(format="common", file_path=str(path))
        for n in range(50):
            log.observer(_request(n), 200, 5, 0.001, False)
        await asyncio.sleep(0)
        path.rename(rotated)  # logrotate moves the file; lines go on to the old inode until SIGUSR1
        for n in range(50, 80):
            log.observer(_request(n), 200, 5, 0.001, False)
        log.reopen()  # the pending lines (50-79) go to the old file first
        for n in range(80, 100):
            log.observer(_request(n), 200, 5, 0.001, False)
        await log.aclose()  # and what is pending at shutdown is written too

    asyncio.run(scenario())
    assert _numbers(rotated) == list(range(80))
    assert _numbers(path) == list(range(80, 100))


def test_buffered_lines_are_written_at_shutdown(tmp_path: Path) -> None:
    path = tmp_path / "access.log"

    async def scenario() -> None:
        log = AccessLog(format="common", file_path=str(path), buffering_size=1000)
        for n in range(10):
            log.observer(_request(n), 200, 5, 0.001, False)
        await asyncio.sleep(0)
        assert path.read_bytes() == b""  # fewer than bufferingSize lines, before the flush timer
        await log.aclose()

    asyncio.run(scenario())
    assert _numbers(path) == list(range(10))


def test_the_remembered_loop_is_asked_again_once_it_stopped(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    log = AccessLog(format="common", file_path=str(path))

    async def one(n: int) -> None:
        log.observer(_request(n), 200, 5, 0.001, False)
        await asyncio.sleep(0)
        await asyncio.sleep(0)

    asyncio.run(one(0))
    asyncio.run(one(1))  # a new loop: the first one is closed
    log.observer(_request(2), 200, 5, 0.001, False)  # no running loop: written at once
    assert _numbers(path) == [0, 1, 2]
    asyncio.run(log.aclose())
