"""The access log's output: a file (``O_APPEND``, created ``0664`` with its parent directories, like Traefik), an
injected stream, or stdout, written by a :class:`~hanzo_edge.observability.writer_thread.WriterThread`."""

from __future__ import annotations

import concurrent.futures
import logging
import os
import sys
from typing import IO, Final

from hanzo_edge.observability.writer_thread import WriterThread

__all__ = ["BARRIER", "REOPEN", "STOP", "LogOutput"]

log = logging.getLogger("hanzo_edge.observability.accesslog")

BARRIER: Final = "barrier"
REOPEN: Final = "reopen"
STOP: Final = "stop"


def _open_file(path: str) -> int:
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, mode=0o755, exist_ok=True)
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0), 0o664)


class LogOutput:
    """Where the lines go. The file is opened here (so a bad path fails at startup); the thread starts on first use."""

    def __init__(self, path: str, stream: IO[bytes] | None) -> None:
        self.path = path
        self._stream = stream
        self._fd = _open_file(path) if path and stream is None else -1
        self._thread = WriterThread(self, "hanzo-edge-accesslog")

    def submit(self, batch: bytearray) -> None:
        """Queue one batch of lines (never blocks); the writer owns ``batch`` from now on."""
        self._thread.submit(batch)

    def command(self, name: str) -> concurrent.futures.Future[None]:
        """Queue :data:`BARRIER`, :data:`REOPEN` or :data:`STOP` behind the batches already queued.

        The future resolves once the thread has run it. Unknown names act as a barrier.
        """
        if name == STOP:
            return self._thread.stop(self.close_output)
        return self._thread.call(self._reopen if name == REOPEN else _barrier)

    def stopped(self) -> bool:
        """True when the thread never started (nothing to stop)."""
        return not self._thread.started

    def close_output(self) -> None:
        """Close the file (stdout or an injected stream are left open)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    # -- on the writer thread --------------------------------------------------------------------------------------
    def write_batch(self, items: list[bytes | bytearray]) -> None:
        """Write the batches in one write (the :class:`WriterThread` sink)."""
        data = b"".join(items) if len(items) > 1 else items[0]
        try:
            if self._stream is not None or not self.path:
                stream = self._stream if self._stream is not None else sys.stdout.buffer
                stream.write(data)
                stream.flush()
                return
            if self._fd < 0:
                return
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
        except Exception as exc:
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
