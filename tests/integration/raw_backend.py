"""A raw-socket backend skeleton for tests whose backend must misbehave on the wire (lie about framing, record bytes).

:class:`ThreadedRawBackend` listens on 127.0.0.1, accepts in one thread and serves each connection in its own thread
(``serve``, which the test's subclass writes); ``stop`` closes the listener and joins the threads. The well-behaved
backend of most tests is ``edge_backend.Backend``.
"""

from __future__ import annotations

import socket
import threading
from typing import Self


class ThreadedRawBackend:
    """See the module docstring. ``connection_opened`` returns what ``serve`` gets beside the socket (per-connection
    records); both run on the backend's threads, so shared records go under ``self.lock``."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.lock = threading.Lock()
        self.threads: list[threading.Thread] = []

    def start(self) -> Self:
        self._spawn(self._accept)
        return self

    def stop(self) -> None:
        self.listener.close()
        for thread in self.threads:
            thread.join(timeout=2.0)

    def connection_opened(self) -> object:
        """Per-connection state handed to ``serve`` (None unless a subclass records something)."""
        return None

    def serve(self, sock: socket.socket, state: object) -> None:
        raise NotImplementedError

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        thread.start()
        self.threads.append(thread)

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return  # closed by stop()
            self._spawn(self.serve, sock, self.connection_opened())
