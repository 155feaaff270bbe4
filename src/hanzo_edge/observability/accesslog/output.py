"""The access log's output: a file (``O_APPEND``, created ``0664`` with its parent directories, like Traefik), an
injected stream, or stdout.

Where the lines are written depends on what the output is:

* a regular file or ``/dev/null`` (:attr:`LogOutput.direct`): on the event loop, one ``os.write`` per batch. Such a
  write lands in the page cache and costs a few µs; handing it to a thread cost far more end to end (issue 22: the
  woken writer thread contends for the GIL with uvloop's callbacks, ~0.4 futex calls and ~9 µs of CPU per request
  at 20,000 req/s). Should :data:`SLOW_WRITES` writes in a row each take longer than :data:`SLOW_WRITE` (a disk
  under writeback pressure, a network file system), the output moves to the writer thread for good. One slow write
  alone proves nothing: on a busy machine the loop thread is preempted in the middle of a write now and then;
* anything else (stdout, a pipe, a terminal, an injected stream), which a slow reader can block: a
  :class:`~hanzo_edge.observability.writer_thread.WriterThread`.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import stat
import sys
from collections.abc import Callable
from time import perf_counter
from typing import IO, Final

from hanzo_edge.observability.writer_thread import WriterThread

__all__ = ["BARRIER", "REOPEN", "SLOW_WRITE", "SLOW_WRITES", "STOP", "LogOutput"]

log = logging.getLogger("hanzo_edge.observability.accesslog")

BARRIER: Final = "barrier"
REOPEN: Final = "reopen"
STOP: Final = "stop"

SLOW_WRITE: Final = 0.002
"""Seconds: a write on the event loop slower than this is slow."""

SLOW_WRITES: Final = 3
"""This many slow writes in a row move the output to the writer thread."""


def _open_file(path: str) -> int:
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, mode=0o755, exist_ok=True)
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0), 0o664)


def _writes_never_block(fd: int) -> bool:
    """True for a regular file or the null device: a write there never waits for a reader."""
    try:
        mode = os.fstat(fd)
        if stat.S_ISREG(mode.st_mode):
            return True
        return stat.S_ISCHR(mode.st_mode) and mode.st_rdev == os.stat(os.devnull).st_rdev
    except OSError:
        return False


def _completed() -> concurrent.futures.Future[None]:
    done: concurrent.futures.Future[None] = concurrent.futures.Future()
    done.set_result(None)
    return done


class LogOutput:
    """Where the lines go. The file is opened here (so a bad path fails at startup); the thread starts on first use."""

    def __init__(
        self,
        path: str,
        stream: IO[bytes] | None,
        *,
        slow_write: float = SLOW_WRITE,
        clock: Callable[[], float] = perf_counter,
    ) -> None:
        self.path = path
        self._stream = stream
        self._fd = _open_file(path) if path and stream is None else -1
        self._slow_write = slow_write
        self._clock = clock
        self._slow_in_a_row = 0
        self.direct = self._fd >= 0 and _writes_never_block(self._fd)
        """True while batches are written on the calling (event-loop) thread; False once they go to the thread."""
        self._thread = WriterThread(self, "hanzo-edge-accesslog")

    def submit(self, batch: bytearray) -> None:
        """Write one batch of lines now (:attr:`direct`) or queue it for the thread (never blocks on a reader)."""
        if not self.direct:
            self._thread.submit(batch)
            return
        started = self._clock()
        self._write_fd(batch)
        took = self._clock() - started
        if took <= self._slow_write:
            self._slow_in_a_row = 0
            return
        self._slow_in_a_row += 1
        if self._slow_in_a_row >= SLOW_WRITES:
            # Nothing is written out of order: every earlier batch is already in the file.
            self.direct = False
            log.warning(
                "access log %s: %d writes in a row took over %.0f ms on the event loop (the last %.1f ms); "
                "writing from a thread from now on",
                self.path,
                SLOW_WRITES,
                self._slow_write * 1000,
                took * 1000,
            )

    def command(self, name: str) -> concurrent.futures.Future[None]:
        """Run :data:`BARRIER`, :data:`REOPEN` or :data:`STOP` after the batches already submitted.

        The future resolves once it ran: at once when nothing is queued on a thread. Unknown names act as a barrier.
        """
        if not self._thread.started:
            if name == STOP:
                self.close_output()
            elif name == REOPEN:
                self._reopen()
            return _completed()
        if name == STOP:
            return self._thread.stop(self.close_output)
        return self._thread.call(self._reopen if name == REOPEN else _barrier)

    def stopped(self) -> bool:
        """True when the thread never started (nothing to wait for or stop)."""
        return not self._thread.started

    def close_output(self) -> None:
        """Close the file (stdout or an injected stream are left open)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    # -- on the writer thread (or the loop, when direct) -----------------------------------------------------------
    def write_batch(self, items: list[bytes | bytearray]) -> None:
        """Write the batches in one write (the :class:`WriterThread` sink)."""
        data = b"".join(items) if len(items) > 1 else items[0]
        if self._stream is not None or not self.path:
            try:
                stream = self._stream if self._stream is not None else sys.stdout.buffer
                stream.write(data)
                stream.flush()
            except Exception as exc:
                log.error("cannot write the access log: %s", exc)
            return
        self._write_fd(data)

    def _write_fd(self, data: bytes | bytearray) -> None:
        if self._fd < 0:
            return
        try:
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
        except OSError as exc:
            log.error("cannot write the access log: %s", exc)

    def _reopen(self) -> None:
        if not self.path or self._stream is not None:
            return
        try:
            fd = _open_file(self.path)  # open first: on failure keep writing to the old file
        except OSError as exc:
            log.error("access log reopen failed: %s", exc)
            return
        old, self._fd = self._fd, fd
        if old >= 0:
            os.close(old)


def _barrier() -> None:
    """Nothing: the future of a barrier resolves once the batches queued before it are written."""
