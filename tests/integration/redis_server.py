"""A throw-away ``redis-server`` for integration tests: free port, no persistence, stopped (or killed) by pid."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
from pathlib import Path

from edge_harness import eventually, free_port

__all__ = ["REDIS_SERVER", "RedisServer"]

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


class RedisServer:
    """``redis-server`` on 127.0.0.1:``port`` with ``--save "" --appendonly no``; :meth:`restart` keeps the port."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.workdir = workdir
        self.log_path = workdir / f"redis-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise RuntimeError("redis-server is not running")
        return self.proc.pid

    def start(self, timeout: float = 10.0) -> RedisServer:
        """Start the server and wait until it answers PING."""
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    REDIS_SERVER,
                    "--port", str(self.port),
                    "--bind", "127.0.0.1",
                    "--save", "",
                    "--appendonly", "no",
                    "--protected-mode", "no",
                    "--dir", str(self.workdir),
                    "--logfile", "",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=str(self.workdir),
            )  # fmt: skip
        eventually(self.ping, timeout=timeout, message=self.describe)
        return self

    def describe(self) -> str:
        alive = self.proc is not None and self.proc.poll() is None
        log = self.log_path.read_text(errors="replace")[-2000:] if self.log_path.exists() else ""
        return f"redis-server on {self.endpoint} (alive={alive})\n{log}"

    def ping(self) -> bool:
        """True when the server answers ``PING`` with ``+PONG``."""
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"redis-server exited with {self.proc.returncode}\n{self.describe()}")
        with socket.create_connection(("127.0.0.1", self.port), timeout=1.0) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")

    def kill(self) -> None:
        """SIGKILL the server by pid (a crash: no shutdown) and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate the server by pid (SIGKILL if it lingers); idempotent."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout)

    def restart(self) -> RedisServer:
        """Start again on the same port (after :meth:`kill` or :meth:`stop`); the data is gone."""
        self.stop()
        return self.start()
