"""Fake Hanzo services for the ``test_hanzo_*`` tests: a JWKS server with token minting, Commerce, and a cloud-api
that streams OpenAI-style SSE chunks with gaps. Standard-library HTTP servers (no code shared with the gateway).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

__all__ = ["CloudApi", "Commerce", "IamKeys", "serve"]

ISSUER = "https://iam.test"


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # a client that gave up (a timed-out billing call) is expected


def serve(handle: Any) -> tuple[ThreadingHTTPServer, int]:
    """Start a threading server whose every request goes to ``handle(h)``; returns it and its port."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            handle(self)

        do_POST = do_PUT = do_DELETE = do_OPTIONS = do_GET

    server = _Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def _reply(h: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str = "application/json") -> None:
    h.send_response(status)
    h.send_header("Content-Type", content_type)
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body)


class IamKeys:
    """An RSA and an EC signing key, their JWKS at ``/jwks`` (``broken`` makes it answer 500 garbage)."""

    def __init__(self) -> None:
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.other = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # not in the JWKS
        rsa_jwk = json.loads(RSAAlgorithm.to_jwk(self.rsa.public_key()))
        ec_jwk = json.loads(ECAlgorithm.to_jwk(self.ec.public_key()))
        self.jwks = {"keys": [{**rsa_jwk, "kid": "rsa1", "use": "sig"}, {**ec_jwk, "kid": "ec1", "use": "sig"}]}
        self.broken = False
        self.fetches = 0
        self.server, self.port = serve(self._handle)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/jwks"

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        self.fetches += 1
        if self.broken:
            _reply(h, 500, b"<html>down</html>", "text/html")
        else:
            _reply(h, 200, json.dumps(self.jwks).encode())

    def token(
        self, claims: Mapping[str, Any] | None = None, *, alg: str = "RS256", kid: str | None = "rsa1", key: Any = None
    ) -> str:
        """A token signed by the JWKS's key (``key`` overrides), valid for an hour, issuer ``ISSUER``."""
        now = int(time.time())
        body = {
            "iss": ISSUER,
            "sub": "alice",
            "owner": "hanzo",
            "email": "alice@hanzo.ai",
            "iat": now,
            "exp": now + 3600,
        }
        body.update(claims or {})
        body = {k: v for k, v in body.items() if v is not None}
        signer = key if key is not None else (self.ec if alg.startswith("ES") else self.rsa)
        headers = {"kid": kid} if kid is not None else {}
        return jwt.encode(body, signer, algorithm=alg, headers=headers)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Commerce:
    """``GET /api/v1/billing/balance``: ``mode`` is ``ok`` (``available`` per user, default 500), ``slow`` (answers
    after 3 s), ``garbage`` (200, not JSON) or ``error`` (500). ``calls`` records ``(user, authorization)``."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.available: dict[str, float] = {}
        self.calls: list[tuple[str, str]] = []
        self.server, self.port = serve(self._handle)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        url = urlsplit(h.path)
        user = parse_qs(url.query).get("user", [""])[0]
        self.calls.append((user, h.headers.get("Authorization", "")))
        if url.path != "/api/v1/billing/balance":
            _reply(h, 404, b"{}")
        elif self.mode == "slow":
            time.sleep(3)
            _reply(h, 200, b'{"available": 100}')
        elif self.mode == "garbage":
            _reply(h, 200, b"<<<not json")
        elif self.mode == "error":
            _reply(h, 500, b'{"error":"boom"}')
        else:
            available = self.available.get(user, 500)
            body = {"user": user, "currency": "usd", "balance": available, "holds": 0, "available": available}
            _reply(h, 200, json.dumps(body).encode())

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class CloudApi:
    """A fake cloud-api: ``POST /api/chat/completions`` (streamed SSE when ``"stream": true``, each chunk after the
    previous one once :meth:`release` lets it go), ``GET /api/models``. ``seen`` records ``(path, headers)``."""

    WORDS = ("Hello", " from", " the", " fake", " cloud")

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, str]]] = []
        self.gates = [threading.Event() for _ in range(len(self.WORDS) + 1)]
        self.sent = 0
        self.server, self.port = serve(self._handle)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reset(self) -> None:
        """Hold every chunk again (before a new stream)."""
        for gate in self.gates:
            gate.clear()
        self.sent = 0

    def release_all(self) -> None:
        for gate in self.gates:
            gate.set()

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = json.loads(h.rfile.read(length) or b"{}") if length else {}
        self.seen.append((h.path, {k.lower(): v for k, v in h.headers.items()}))
        path = urlsplit(h.path).path
        if path == "/api/models":
            models = {"object": "list", "data": [{"id": "zen-1", "object": "model", "created": 0, "owned_by": "hanzo"}]}
            _reply(h, 200, json.dumps(models).encode())
        elif path == "/api/chat/completions" and body.get("stream"):
            self._stream(h)
        elif path == "/api/chat/completions":
            answer = {
                "id": "c1",
                "object": "chat.completion",
                "created": 0,
                "model": body.get("model", "zen-1"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "".join(self.WORDS)},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 5, "total_tokens": 6},
            }
            _reply(h, 200, json.dumps(answer).encode())
        else:
            _reply(h, 404, b'{"error":"not found"}')

    def _stream(self, h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.send_header("Cache-Control", "no-cache")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()

        def send(data: bytes) -> None:
            h.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            h.wfile.flush()

        for index, word in enumerate(self.WORDS):
            if index and not self.gates[index].wait(10):
                break  # the test never released it: end the stream
            chunk = {
                "id": "c1",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": "zen-1",
                "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}],
            }
            self.sent = index + 1  # counted before the write, so a client that has the chunk sees the count
            send(b"data: " + json.dumps(chunk).encode() + b"\n\n")
        send(b"data: [DONE]\n\n")
        h.wfile.write(b"0\r\n\r\n")
        h.wfile.flush()

    def stop(self) -> None:
        self.release_all()
        self.server.shutdown()
        self.server.server_close()
