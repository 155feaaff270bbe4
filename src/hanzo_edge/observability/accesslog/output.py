"""The access log's output: a file (``O_APPEND``, created ``0664`` with its parent directories, like Traefik), an
injected stream, or stdout.

Where the lines are written depends on what the output is:

* a regular file on a local file system, or ``/dev/null`` (:attr:`LogOutput.direct`): on the event loop, one
  ``os.write`` per batch. Such a write lands in the page cache and costs a few µs; handing it to a thread cost far more
  end to end (issue 22: the woken writer thread contends for the GIL with uvloop's callbacks, ~0.4 futex calls and ~9 µs
  of CPU per request at 20,000 req/s). Should :data:`SLOW_WRITES` writes in a row each take longer than
  :data:`SLOW_WRITE` (a disk under writeback pressure, a network file system), the output moves to the writer thread for
  good. One slow write alone proves nothing: on a busy machine the loop thread is preempted in the middle of a write now
  and then; but one write over :data:`STALL_WRITE` is no preemption, and moves it at once. A single write that hangs (a
  hard NFS mount whose server is gone) would hold the loop for as long as it hangs, so a file on a network file system
  (NFS, CIFS, Ceph, FUSE..., found in ``/proc/self/mountinfo`` by its device) is written from the thread from the start;
* anything else (stdout, a pipe, a terminal, an injected stream), which a slow reader can block: a
  :class:`~hanzo_edge.observability.writer_thread.WriterThread`.

A reopen (SIGUSR1) looks at what the path is now: a FIFO put where the file was moves the output to the thread, and
the reopen itself never waits for a FIFO's reader (it keeps the old file instead). A write that fails (``ENOSPC``,
``EIO``) drops that batch and is logged once until writes succeed again, not once per batch.
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

__all__ = ["BARRIER", "REOPEN", "SLOW_WRITE", "SLOW_WRITES", "STALL_WRITE", "STOP", "LogOutput", "remote_fs_type"]

log = logging.getLogger("hanzo_edge.observability.accesslog")

BARRIER: Final = "barrier"
REOPEN: Final = "reopen"
STOP: Final = "stop"

SLOW_WRITE: Final = 0.002
"""Seconds: a write on the event loop slower than this is slow."""

SLOW_WRITES: Final = 3
"""This many slow writes in a row move the output to the writer thread."""

STALL_WRITE: Final = 0.05
"""Seconds: one write on the event loop slower than this moves the output to the writer thread at once."""


def _open_file(path: str, *, wait_for_reader: bool = True) -> int:
    """Open ``path`` for appending. ``wait_for_reader`` False: a FIFO without a reader fails (ENXIO) at once."""
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, mode=0o755, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
    if wait_for_reader:
        return os.open(path, flags, 0o664)
    fd = os.open(path, flags | os.O_NONBLOCK, 0o664)
    os.set_blocking(fd, True)  # only the open must not wait: the writer thread's writes may
    return fd


# File systems whose writes wait on a network (or a user-space daemon): a write there can hang for as long as the
# server is away, which no switch after the fact can bound on the event loop.
_REMOTE_FS: Final = frozenset(
    {"nfs", "nfs4", "cifs", "smb3", "smbfs", "ceph", "glusterfs", "9p", "afs", "lustre", "gpfs", "ocfs2", "gfs2"}
)


def remote_fs_type(device: int, mountinfo: str) -> str | None:
    """The type of the network (or FUSE) file system mounted as ``device`` (a ``st_dev``) per ``mountinfo``
    (``/proc/self/mountinfo``'s text), or None when it is local or not listed."""
    wanted = f"{os.major(device)}:{os.minor(device)}"
    for line in mountinfo.splitlines():
        fields = line.split(" ")
        if len(fields) < 3 or fields[2] != wanted or " - " not in line:
            continue
        fs_type = line.split(" - ", 1)[1].split(" ", 1)[0]
        if fs_type in _REMOTE_FS or fs_type == "fuse" or fs_type.startswith("fuse."):
            return fs_type
    return None


def _on_remote_fs(device: int) -> bool:
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as mounts:
            return remote_fs_type(device, mounts.read()) is not None
    except OSError:
        return False  # no /proc: local unless a write proves slow


def _writes_never_block(fd: int) -> bool:
    """True for a regular file on a local file system, or the null device: a write there never waits for a reader
    or a network."""
    try:
        mode = os.fstat(fd)
        if stat.S_ISREG(mode.st_mode):
            return not _on_remote_fs(mode.st_dev)
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
        self._dropped = 0  # bytes lost to failed writes since the last write that succeeded (0: writes succeed)
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
        if self._slow_in_a_row >= SLOW_WRITES or took > STALL_WRITE:
            # Nothing is written out of order: every earlier batch is already in the file.
            self.direct = False
            log.warning(
                "access log %s: %d write(s) in a row took over %.0f ms on the event loop (the last %.1f ms); "
                "writing from a thread from now on",
                self.path,
                self._slow_in_a_row,
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
                self._failed(exc, len(data))  # a closed or non-blocking stdout (EAGAIN), a full disk behind it
                return
            self._succeeded()
            return
        self._write_fd(data)

    def _write_fd(self, data: bytes | bytearray) -> None:
        if self._fd < 0:
            return
        view = memoryview(data)
        try:
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
        except OSError as exc:
            self._failed(exc, len(view))
            return
        self._succeeded()

    def _failed(self, exc: BaseException, lost: int) -> None:
        # A full disk fails every batch: say so once, not once per loop iteration, until a write succeeds.
        if not self._dropped:
            where = self.path or "stdout"
            log.error("cannot write the access log %s: %s (lines are dropped until writes succeed)", where, exc)
        self._dropped += lost

    def _succeeded(self) -> None:
        if self._dropped:
            where = self.path or "stdout"
            log.warning("access log %s: writes succeed again (%d bytes of lines were dropped)", where, self._dropped)
            self._dropped = 0

    def _reopen(self) -> None:
        if not self.path or self._stream is not None:
            return
        try:
            # Open first: on failure keep writing to the old file. This may run on the event loop (no thread yet):
            # a FIFO without a reader must not hold it.
            fd = _open_file(self.path, wait_for_reader=False)
        except OSError as exc:
            log.error("access log reopen failed: %s", exc)
            return
        if self.direct and not _writes_never_block(fd):
            # What is at the path now can block a write (a FIFO, a socket, a terminal): the thread writes it.
            # Nothing is reordered: every earlier batch was written on this thread already.
            self.direct = False
        old, self._fd = self._fd, fd
        if old >= 0:
            os.close(old)


def _barrier() -> None:
    """Nothing: the future of a barrier resolves once the batches queued before it are written."""
