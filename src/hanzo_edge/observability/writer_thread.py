"""One background thread that writes what the event loop hands it, in order, so no write ever blocks the loop.

The access log hands it batches of lines for its file; the tracing span shipper hands it msgpack frames for the span
exporter's pipe. The loop side never waits: :meth:`WriterThread.submit` queues and returns. The thread takes every
item queued meanwhile in one go and gives them to its sink as one list, so a burst costs one write. Calls queued with
:meth:`WriterThread.call` (reopen a rotated file, a barrier for ``flush``) run on the thread after the items queued
before them, which is what makes "the lines before SIGUSR1 go to the old file" hold.
"""

from __future__ import annotations

import concurrent.futures
import logging
import queue
import threading
from collections.abc import Callable
from typing import Protocol

__all__ = ["Sink", "WriterThread"]

log = logging.getLogger(__name__)


class Sink(Protocol):
    """Where a :class:`WriterThread` writes; called on that thread only."""

    def write_batch(self, items: list[bytes | bytearray]) -> None:
        """Write ``items`` (every item queued since the last call, in order). Handles its own write errors."""


class _Call:
    __slots__ = ("action", "future", "last")

    def __init__(self, action: Callable[[], None], last: bool) -> None:
        self.action = action
        self.future: concurrent.futures.Future[None] = concurrent.futures.Future()
        self.last = last  # the thread ends after this call


class WriterThread:
    """A daemon thread owning a :class:`Sink`, started on first use.

    ``submit`` may be called from one thread (the event loop); ``backlog`` is exact for that thread.
    """

    def __init__(self, sink: Sink, name: str) -> None:
        self.sink = sink
        self.name = name
        self.submitted = 0
        """Items queued (written by the submitting thread only)."""
        self.written = 0
        """Items handed to the sink (written by the writer thread only), so ``backlog`` needs no lock."""
        self._queue: queue.SimpleQueue[bytes | bytearray | _Call] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def started(self) -> bool:
        """True once the thread runs (it starts with the first item or call)."""
        return self._thread is not None

    @property
    def backlog(self) -> int:
        """Items queued and not yet written."""
        return self.submitted - self.written

    def submit(self, item: bytes | bytearray) -> None:
        """Queue ``item`` for the sink (never blocks); the thread owns it from now on."""
        self._start()
        self.submitted += 1
        self._queue.put(item)

    def call(self, action: Callable[[], None]) -> concurrent.futures.Future[None]:
        """Run ``action`` on the thread after the items already queued; the future resolves once it ran."""
        return self._queue_call(_Call(action, last=False))

    def stop(self, final: Callable[[], None]) -> concurrent.futures.Future[None]:
        """Write what is queued, run ``final`` (close the output) and end the thread.

        When the thread never started, ``final`` runs here, at once.
        """
        if self._thread is None:
            done: concurrent.futures.Future[None] = concurrent.futures.Future()
            final()
            done.set_result(None)
            return done
        return self._queue_call(_Call(final, last=True))

    def join(self, timeout: float) -> None:
        """Wait up to ``timeout`` s for the thread to end (after :meth:`stop`)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _queue_call(self, call: _Call) -> concurrent.futures.Future[None]:
        self._start()
        self._queue.put(call)
        return call.future

    def _start(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                    thread.start()
                    self._thread = thread

    # -- the thread ------------------------------------------------------------------------------------------------
    def _run(self) -> None:
        get, get_nowait = self._queue.get, self._queue.get_nowait
        item = get()
        while True:
            if isinstance(item, _Call):
                if self._run_call(item):
                    return
                item = get()
                continue
            batch = [item]
            # Everything queued meanwhile goes in the same write, up to the next call.
            following: bytes | bytearray | _Call | None = None
            while following is None:
                try:
                    following = get_nowait()
                except queue.Empty:
                    break
                if not isinstance(following, _Call):
                    batch.append(following)
                    following = None
            self._write(batch)
            item = following if following is not None else get()

    def _write(self, batch: list[bytes | bytearray]) -> None:
        try:
            self.sink.write_batch(batch)
        except Exception:  # a sink bug must not end the thread: later items and calls still need it
            log.exception("%s: write failed", self.name)
        finally:
            self.written += len(batch)

    def _run_call(self, call: _Call) -> bool:
        running = call.future.set_running_or_notify_cancel()  # False when the waiter gave up: still run it
        try:
            call.action()
        except Exception:
            log.exception("%s: %s failed", self.name, getattr(call.action, "__name__", "call"))
        if running:
            call.future.set_result(None)
        return call.last
