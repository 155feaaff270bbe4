"""Helpers for the integration tests: polling, free ports, stdlib HTTP clients and the ``ingress`` subprocess."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from edge_backend import READY_PATH

__all__ = [
    "GATEWAY",
    "INGRESS",
    "Ingress",
    "RawConn",
    "Response",
    "catch_all",
    "children_of",
    "clean_env",
    "eventually",
    "free_port",
    "http_request",
    "lb_service",
    "pid_alive",
    "request_bytes",
    "run_cli",
    "socket_owner",
    "write_dynamic",
]

T = TypeVar("T")

_VENV_BIN = Path(sys.executable).parent
INGRESS = str(_VENV_BIN / "ingress") if (_VENV_BIN / "ingress").exists() else "ingress"
GATEWAY = str(_VENV_BIN / "gateway") if (_VENV_BIN / "gateway").exists() else "gateway"


# -- polling ----------------------------------------------------------------------------------------------------------
def eventually(
    predicate: Callable[[], T],
    timeout: float = 10.0,
    interval: float = 0.02,
    message: str | Callable[[], str] = "",
) -> T:
    """Poll ``predicate`` until it returns a truthy value and return that value.

    AssertionError and OSError (e.g. connection refused) raised by the predicate count as "not yet"; the last one
    is chained to the timeout error. Anything else propagates at once.
    """
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while True:
        try:
            value = predicate()
        except (AssertionError, OSError) as exc:
            last_exc = exc
        else:
            if value:
                return value
        if time.monotonic() >= deadline:
            text = message() if callable(message) else message
            raise AssertionError(f"condition not met within {timeout}s: {text or predicate}") from last_exc
        time.sleep(interval)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- clients ----------------------------------------------------------------------------------------------------------
@dataclass
class Response:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    interim: list[int] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        lname = name.lower()
        values = [v for n, v in self.headers if n.lower() == lname]
        return ", ".join(values) if values else None

    def json(self) -> Any:
        return json.loads(self.body)

    def request_header(self, name: str) -> str | None:
        """For ``/echo`` answers: the value of ``name`` among the headers the backend received."""
        lname = name.lower()
        values = [v for n, v in self.json()["headers"] if n.lower() == lname]
        return ", ".join(values) if values else None


def http_request(
    port: int,
    method: str = "GET",
    path: str = "/",
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 10.0,
) -> Response:
    """One request on a fresh ``http.client`` connection (closed before returning)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=dict(headers or {}))
        resp = conn.getresponse()
        try:
            data = resp.read()
        finally:
            resp.close()
        return Response(resp.status, resp.reason, list(resp.getheaders()), data)
    finally:
        conn.close()


class RawConn:
    """A raw client socket with just enough HTTP/1.1 parsing to check framing byte by byte."""

    def __init__(self, port: int, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def __enter__(self) -> RawConn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    @property
    def local_port(self) -> int:
        return int(self.sock.getsockname()[1])

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        self.buf += data
        return bool(data)

    def read_until(self, delim: bytes) -> bytes:
        while delim not in self.buf:
            if not self._fill():
                raise EOFError(f"connection closed before {delim!r}; got {self.buf[:200]!r}")
        data, _, self.buf = self.buf.partition(delim)
        return data + delim

    def read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not self._fill():
                raise EOFError(f"connection closed after {len(self.buf)} of {n} bytes")
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_head(self) -> tuple[int, str, list[tuple[str, str]]]:
        """Read one response head; returns (status, reason, headers)."""
        head = self.read_until(b"\r\n\r\n").decode("latin-1")
        lines = head[:-4].split("\r\n")
        version, status, *reason = lines[0].split(" ", 2)
        assert version in ("HTTP/1.1", "HTTP/1.0"), lines[0]
        headers = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.append((name, value.strip()))
        return int(status), (reason[0] if reason else ""), headers

    def read_chunk(self) -> bytes:
        """Read one chunk of a chunked body; ``b""`` is the last chunk (trailers consumed)."""
        size = int(self.read_until(b"\r\n").split(b";", 1)[0].strip(), 16)
        if size == 0:
            while self.read_until(b"\r\n") != b"\r\n":
                pass
            return b""
        data = self.read_exact(size)
        assert self.read_exact(2) == b"\r\n", "bad chunk framing"
        return data

    def read_to_eof(self) -> bytes:
        while self._fill():
            pass
        data, self.buf = self.buf, b""
        return data

    def read_response(self, head_request: bool = False) -> Response:
        """Read a final response (skipping 1xx) with whatever framing it uses."""
        interim: list[int] = []
        while True:
            status, reason, headers = self.read_head()
            if 100 <= status < 200 and status != 101:
                interim.append(status)
                continue
            break
        resp = Response(status, reason, headers, b"", interim)
        te = (resp.header("transfer-encoding") or "").lower()
        length = resp.header("content-length")
        if head_request or status in (101, 204, 304):
            return resp
        if te:
            assert te == "chunked", te
            parts = []
            while chunk := self.read_chunk():
                parts.append(chunk)
            resp.body = b"".join(parts)
        elif length is not None:
            resp.body = self.read_exact(int(length))
        else:
            resp.body = self.read_to_eof()
        return resp

    def wait_closed(self, timeout: float = 5.0) -> bytes:
        """Wait (bounded) until the peer closes; return whatever arrived before the close.

        A reset counts as closed. Raises AssertionError if the connection is still open after ``timeout``.
        """
        deadline = time.monotonic() + timeout
        self.sock.settimeout(0.05)
        try:
            while time.monotonic() < deadline:
                try:
                    if not self._fill():
                        data, self.buf = self.buf, b""
                        return data
                except TimeoutError:
                    continue
                except ConnectionResetError:
                    data, self.buf = self.buf, b""
                    return data
        finally:
            self.sock.settimeout(10.0)
        raise AssertionError(f"connection still open after {timeout}s (buffered {self.buf[:100]!r})")


def request_bytes(
    method: str, path: str, host: str, headers: Sequence[tuple[str, str]] = (), body: bytes = b""
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{n}: {v}" for n, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


# -- configuration helpers --------------------------------------------------------------------------------------------
def lb_service(*urls: str, **options: Any) -> dict[str, Any]:
    """A dynamic ``loadBalancer`` service definition."""
    return {"loadBalancer": {"servers": [{"url": u} for u in urls], **options}}


def catch_all(url: str, **lb_options: Any) -> dict[str, Any]:
    """Dynamic config: one router matching every request, to one server."""
    return {
        "http": {
            "routers": {"all": {"rule": "PathPrefix(`/`)", "service": "svc"}},
            "services": {"svc": lb_service(url, **lb_options)},
        }
    }


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The test environment without any configuration variables that could leak into ``ingress``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TRAEFIK_", "HANZO_INGRESS_", "HANZO_EDGE_", "PYTEST_", "COV_"))
    }
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def run_cli(args: Sequence[str], *, program: str = INGRESS, timeout: float = 20.0) -> subprocess.CompletedProcess[str]:
    """Run the CLI to completion (for commands expected to exit by themselves)."""
    return subprocess.run(
        [program, *args], capture_output=True, text=True, timeout=timeout, env=clean_env(), stdin=subprocess.DEVNULL
    )


# -- the ingress process ----------------------------------------------------------------------------------------------
class Ingress:
    """A running ``ingress`` subprocess listening on 127.0.0.1:``port``."""

    def __init__(self, args: Sequence[str], port: int, workdir: Path, env: Mapping[str, str]) -> None:
        self.args = list(args)
        self.port = port
        self.stderr_path = workdir / f"ingress-{port}.stderr"
        self._stderr = self.stderr_path.open("wb")
        try:
            self.proc = subprocess.Popen(
                [INGRESS, *args],
                stdin=subprocess.DEVNULL,
                stdout=self._stderr,
                stderr=subprocess.STDOUT,
                env=dict(env),
                cwd=str(workdir),
            )
        except BaseException:
            self._stderr.close()
            raise
        self.exit_code: int | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stderr(self) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")

    def describe(self) -> str:
        return f"ingress {' '.join(self.args)}\n--- output ---\n{self.stderr()[-4000:]}"

    def answers(self) -> bool:
        """True once the entrypoint accepts a connection and answers a request with an HTTP status line."""
        if self.proc.poll() is not None:
            raise RuntimeError(f"ingress exited with {self.proc.returncode} before serving\n{self.describe()}")
        try:
            with RawConn(self.port, timeout=2.0) as conn:
                conn.send(request_bytes("GET", READY_PATH, "ready.invalid", [("Connection", "close")]))
                return conn.read_until(b"\r\n").startswith(b"HTTP/1.")
        except (OSError, EOFError):
            return False

    def wait_ready(self, timeout: float = 10.0) -> Ingress:
        try:
            eventually(self.answers, timeout=timeout, message=self.describe)
        except RuntimeError as exc:
            raise AssertionError(str(exc)) from None
        return self

    def signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def wait(self, timeout: float = 15.0) -> int:
        """Wait for the process to exit by itself; return its exit code."""
        self.exit_code = self.proc.wait(timeout)
        return self.exit_code

    def stop(self, timeout: float = 5.0) -> int | None:
        """Terminate (then kill) the process and any worker it left behind; idempotent."""
        kids = children_of(self.proc.pid) if self.proc.poll() is None else []
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        for pid in kids:
            if pid_alive(pid) and "hanzo_edge" in _cmdline(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        if not self._stderr.closed:
            self._stderr.close()
        self.exit_code = self.proc.returncode
        return self.exit_code


def write_dynamic(path: Path, config: Mapping[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(json.loads(json.dumps(config)), sort_keys=False))
    return path


# -- /proc helpers (no psutil) ----------------------------------------------------------------------------------------
def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm may contain spaces and parentheses: split after the last ')'
    return raw[raw.rindex(")") + 2 :].split()


def pid_alive(pid: int) -> bool:
    """True when ``pid`` exists and is not a zombie."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def children_of(ppid: int) -> list[int]:
    """Live (non-zombie) child processes of ``ppid``, by a /proc scan."""
    kids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(int(entry))
        if fields is not None and fields[1] == str(ppid) and fields[0] not in ("Z", "X"):
            kids.append(int(entry))
    return sorted(kids)


def _socket_inode(local_port: int, remote_port: int) -> str | None:
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            local, remote, inode = parts[1], parts[2], parts[9]
            if int(local.rsplit(":", 1)[1], 16) == local_port and int(remote.rsplit(":", 1)[1], 16) == remote_port:
                return inode
    return None


def socket_owner(server_port: int, client_port: int, pids: Sequence[int]) -> int | None:
    """Which of ``pids`` holds the server side of the TCP connection ``client_port`` → ``server_port``."""
    inode = _socket_inode(server_port, client_port)
    if inode is None:
        return None
    target = f"socket:[{inode}]"
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                    return pid
            except OSError:
                continue
    return None
