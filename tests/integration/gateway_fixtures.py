"""Helpers of the gateway integration tests: a JSON backend with KrakenD-test routes, and a gateway process.

The backend is the standard library's threading HTTP server (it shares no code with the proxy under test). Routes:

``/echo/...``            ``{"path", "query", "headers", "method", "body", "foo": 42}`` (krakend-ce's param_forwarding)
``/user/{id}``           ``{"id", "name", "address": {"city", "zip"}, "tags": [...]}``
``/collection``          a JSON array of 3 objects
``/status/N``            status N with ``{"status": N}``
``/garbage``             200 with a non-JSON body
``/slow?ms=N``           answers after N ms
``/chunks?n=K``          K chunks ``chunk-<i>\\n`` flushed one by one; the i-th waits for :meth:`release` (i ≥ 1)
``/gzip``                a gzip-encoded JSON object (only when the request accepts gzip)
``/xml``                 an XML document
``/redirect?to=P&status=N``  redirects to P with status N
``/cookies``             two ``Set-Cookie`` headers, ``{"ok": true}``
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from edge_harness import GATEWAY, clean_env, eventually, free_port, http_request

__all__ = ["GATEWAY", "Gateway", "JsonBackend", "start_gateway", "write_gateway"]


class JsonBackend:
    """See the module docstring. ``requests`` records ``(method, target, headers)`` of each request."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, list[str]]]] = []
        self._gates = [threading.Event() for _ in range(64)]
        self.sent_chunks = 0
        backend = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                backend._handle(self)

            do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                return  # a client (the gateway) that gave up on a slow answer is expected here

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> JsonBackend:
        self.thread.start()
        return self

    def stop(self) -> None:
        for gate in self._gates:
            gate.set()
        self.server.shutdown()
        self.server.server_close()

    def release(self, index: int) -> None:
        """Let the chunk ``index`` of ``/chunks`` be sent."""
        self._gates[index].set()

    def last(self, path_prefix: str) -> tuple[str, str, dict[str, list[str]]]:
        for request in reversed(self.requests):
            if request[1].startswith(path_prefix):
                return request
        raise AssertionError(f"no request to {path_prefix}: {[r[1] for r in self.requests]}")

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        headers: dict[str, list[str]] = {}
        for name, value in h.headers.items():
            headers.setdefault(name.lower(), []).append(value)
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        self.requests.append((h.command, h.path, headers))
        url = urlsplit(h.path)
        path, query = url.path, parse_qs(url.query, keep_blank_values=True)
        if path.startswith("/echo"):
            self._json(
                h,
                200,
                {
                    "path": path,
                    "query": query,
                    "headers": headers,
                    "method": h.command,
                    "body": body.decode("utf-8", "replace"),
                    "foo": 42,
                },
            )
        elif path.startswith("/user/"):
            uid = path.rsplit("/", 1)[1]
            self._json(
                h,
                200,
                {
                    "id": uid,
                    "name": f"user {uid}",
                    "address": {"city": "Paris", "zip": "75001"},
                    "tags": [{"k": "a", "v": 1}, {"k": "b", "v": 2}],
                },
            )
        elif path == "/collection":
            self._json(h, 200, [{"i": 0, "path": path}, {"i": 1, "path": path}, {"i": 2, "path": path}])
        elif path.startswith("/status/"):
            code = int(path.rsplit("/", 1)[1])
            self._json(h, code, {"status": code})
        elif path == "/garbage":
            self._raw(h, 200, b"<<not json>>", "application/json")
        elif path == "/slow":
            time.sleep(int(query.get("ms", ["100"])[0]) / 1000)
            self._json(h, 200, {"slow": True})
        elif path == "/chunks":
            self._chunks(h, int(query.get("n", ["3"])[0]))
        elif path == "/gzip":
            data = gzip.compress(json.dumps({"zipped": True}).encode())
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Encoding", "gzip")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
        elif path == "/deep":
            self._raw(h, 200, b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "application/json")
        elif path == "/xml":
            self._raw(h, 200, b'<user type="admin"><name>Ann</name><age>7</age></user>', "application/xml")
        elif path == "/redirect":
            h.send_response(int(query.get("status", ["301"])[0]))
            h.send_header("Location", query.get("to", ["/echo/redirected"])[0])
            h.send_header("Content-Length", "0")
            h.end_headers()
        elif path == "/cookies":
            data = b'{"ok":true}'
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.send_header("Set-Cookie", "test1=test1")
            h.send_header("Set-Cookie", "test2=test2")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
        else:
            self._json(h, 404, {"error": "not found"})

    def _json(self, h: BaseHTTPRequestHandler, status: int, value: Any) -> None:
        self._raw(h, status, json.dumps(value).encode(), "application/json")

    def _raw(self, h: BaseHTTPRequestHandler, status: int, data: bytes, content_type: str) -> None:
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _chunks(self, h: BaseHTTPRequestHandler, n: int) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        for i in range(n):
            if i and not self._gates[i].wait(10):
                break
            data = f"chunk-{i}\n".encode()
            h.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            h.wfile.flush()
            self.sent_chunks = i + 1
        h.wfile.write(b"0\r\n\r\n")
        h.wfile.flush()


def write_gateway(path: Path, config: Mapping[str, Any]) -> Path:
    path.write_text(json.dumps(config, indent=2))
    return path


class Gateway:
    """A ``gateway run`` process on a free port."""

    def __init__(self, config_path: Path, port: int, env: Mapping[str, str], extra_args: Sequence[str] = ()) -> None:
        self.port = port
        self.log = config_path.with_suffix(".log")
        self._log_file = self.log.open("wb")
        self.proc = subprocess.Popen(
            [GATEWAY, "run", "-c", str(config_path), *extra_args],
            env=dict(env),
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            cwd=config_path.parent,
        )

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def ready(self, timeout: float = 15.0, health: str = "/__health") -> Gateway:
        def answers() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"gateway exited {self.proc.returncode}: {self.output()}")
            try:
                return http_request(self.port, "GET", health).status == 200
            except OSError:
                return False

        try:
            eventually(answers, timeout=timeout, message=lambda: f"gateway not ready: {self.output()}")
        except AssertionError:
            self.stop()
            raise
        return self

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log_file.close()
        return self.proc.returncode


def start_gateway(
    tmp: Path, config: dict[str, Any], env: Mapping[str, str] | None = None, health: str = "/__health"
) -> Gateway:
    """Write ``config`` with ``listen_ip`` 127.0.0.1 and a free port, start ``gateway run``, wait for /__health."""
    port = free_port()
    config = {"version": 3, "listen_ip": "127.0.0.1", "port": port, **config}
    path = write_gateway(tmp / "gateway.json", config)
    base = {k: v for k, v in clean_env().items() if not k.startswith(("KRAKEND_", "AUTH_", "BILLING_", "WIDGET_"))}
    # As the acceptance harness (gateway-interface.md item 8): KrakenD tests run with the Hanzo auth middleware off.
    base.update({"AUTH_ENABLED": "false", "BILLING_ENABLED": "false"})
    return Gateway(path, port, {**base, **(env or {})}).ready(health=health)


if __name__ == "__main__":  # pragma: no cover - a manual backend for trying the gateway by hand
    backend = JsonBackend()
    backend.server.server_address = ("127.0.0.1", int(os.environ.get("PORT", "0")))
    backend.thread.run()
