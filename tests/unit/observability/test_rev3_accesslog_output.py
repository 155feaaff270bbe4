"""Review 3 (issue 22): the access log written on the event loop, against a sick output.

A full disk (``/dev/full`` gives a real ENOSPC) must not raise into the loop nor log once per batch; one stalled write
moves the output to the thread at once; a reopen must not wait for a FIFO's reader, and a FIFO put where the file was
is written from the thread, never on the loop.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from hanzo_edge.observability.accesslog.output import BARRIER, REOPEN, STALL_WRITE, STOP, LogOutput, remote_fs_type

WAIT = 5.0  # seconds: a bound for the writer thread, never a sleep


class Readings:
    """perf_counter stand-in: each write takes the next duration (seconds)."""

    def __init__(self, durations: list[float]) -> None:
        self._readings: list[float] = []
        now = 0.0
        for took in durations:
            self._readings += [now, now + took]
            now += took + 1.0
        self._readings.reverse()

    def __call__(self) -> float:
        return self._readings.pop()


def test_a_full_disk_neither_raises_nor_logs_per_batch(caplog: pytest.LogCaptureFixture) -> None:
    output = LogOutput("/dev/full", None)  # every write fails with ENOSPC
    caplog.set_level(logging.WARNING, logger="hanzo_edge.observability.accesslog")
    for n in range(50):
        output.write_batch([b"line %d\n" % n])
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "No space left on device" in errors[0].getMessage()
    output.close_output()


def test_writes_that_succeed_again_say_how_much_was_dropped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "a.log"
    output = LogOutput(str(path), None)
    caplog.set_level(logging.WARNING, logger="hanzo_edge.observability.accesslog")
    good = output._fd
    output._fd = os.open("/dev/full", os.O_WRONLY)  # the disk fills up under the open file
    output.submit(bytearray(b"lost 1\n"))
    output.submit(bytearray(b"lost 2\n"))
    os.close(output._fd)
    output._fd = good  # space again
    output.submit(bytearray(b"kept\n"))
    assert path.read_bytes() == b"kept\n"
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert "14 bytes" in messages[1]
    output.close_output()


def test_one_stalled_write_moves_the_output_to_the_thread_at_once(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    output = LogOutput(str(path), None, clock=Readings([STALL_WRITE * 20]))  # one write held the loop for 1 s
    output.submit(bytearray(b"0\n"))
    assert not output.direct
    output.submit(bytearray(b"1\n"))  # through the thread, after the first
    output.command(BARRIER).result(WAIT)
    assert path.read_bytes() == b"0\n1\n"
    output.command(STOP).result(WAIT)


def test_reopen_never_waits_for_a_fifo_reader(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "access.log"
    output = LogOutput(str(path), None)
    path.rename(tmp_path / "access.log.1")
    os.mkfifo(path)  # nobody reads it: a blocking open would hold the event loop for good
    caplog.set_level(logging.ERROR, logger="hanzo_edge.observability.accesslog")
    output.command(REOPEN).result(WAIT)  # runs here (no thread yet): must return
    assert any("reopen failed" in r.getMessage() for r in caplog.records)
    output.submit(bytearray(b"still to the old file\n"))
    assert (tmp_path / "access.log.1").read_bytes() == b"still to the old file\n"
    output.close_output()


def test_a_fifo_in_place_of_the_file_after_reopen_is_written_from_the_thread(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    output = LogOutput(str(path), None)
    assert output.direct
    path.rename(tmp_path / "access.log.1")
    os.mkfifo(path)
    reader = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        output.command(REOPEN).result(WAIT)
        assert not output.direct  # a slow reader of the FIFO must never block the loop
        output.submit(bytearray(b"through the thread\n"))
        output.command(BARRIER).result(WAIT)
        assert os.read(reader, 100) == b"through the thread\n"
        output.command(STOP).result(WAIT)
    finally:
        os.close(reader)


class BrokenStream:
    """A stream whose writes fail until ``fixed`` (a non-blocking stdout whose reader is behind: EAGAIN)."""

    def __init__(self) -> None:
        self.fixed = False
        self.data = b""

    def write(self, data: bytes) -> int:
        if not self.fixed:
            raise BlockingIOError(11, "Resource temporarily unavailable")
        self.data += data
        return len(data)

    def flush(self) -> None:
        return None


def test_a_failing_stream_is_logged_once_per_failing_streak(caplog: pytest.LogCaptureFixture) -> None:
    stream = BrokenStream()
    output = LogOutput("", stream)  # type: ignore[arg-type]
    caplog.set_level(logging.WARNING, logger="hanzo_edge.observability.accesslog")
    for n in range(20):
        output.write_batch([b"line %d\n" % n])
    stream.fixed = True
    output.write_batch([b"kept\n"])
    assert stream.data == b"kept\n"
    levels = [r.levelno for r in caplog.records]
    assert levels == [logging.ERROR, logging.WARNING]
    assert "Resource temporarily unavailable" in caplog.records[0].getMessage()


MOUNTINFO = """\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw
31 27 0:45 / /mnt/logs rw,relatime - nfs4 filer:/export/logs rw,vers=4.2
32 27 0:46 / /mnt/ssh rw,nosuid - fuse.sshfs user@host:/ rw
33 27 0:47 / /mnt/with\\040space rw - cifs //srv/share rw
"""


def test_network_file_systems_are_found_by_device() -> None:
    assert remote_fs_type(os.makedev(0, 45), MOUNTINFO) == "nfs4"
    assert remote_fs_type(os.makedev(0, 46), MOUNTINFO) == "fuse.sshfs"
    assert remote_fs_type(os.makedev(0, 47), MOUNTINFO) == "cifs"
    assert remote_fs_type(os.makedev(8, 1), MOUNTINFO) is None  # local ext4
    assert remote_fs_type(os.makedev(9, 9), MOUNTINFO) is None  # not listed


def test_a_file_is_direct_exactly_when_its_file_system_is_local(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    output = LogOutput(str(path), None)
    with open("/proc/self/mountinfo", encoding="utf-8") as mounts:
        remote = remote_fs_type(path.stat().st_dev, mounts.read())
    assert output.direct is (remote is None)
    output.close_output()
