"""Local stand-ins for the services behind the Hanzo gateway, for the example (standard library + PyJWT).

    python fake_services.py [--cloud-api 18000] [--commerce 18001] [--iam 18002]

* cloud-api: ``POST /api/chat/completions`` (OpenAI-style, streamed as SSE with a pause between chunks when
  ``"stream": true``), ``GET /api/models``;
* Commerce: ``GET /api/v1/billing/balance?user=<owner>/<sub>`` (``hanzo/broke`` has no balance) and
  ``GET /v1/billing/balance`` (what a gateway.json endpoint calls);
* IAM: ``GET /.well-known/jwks`` with a fresh RSA key; a token for ``hanzo/alice`` is written to ``token.txt``.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm


def _reply(h: BaseHTTPRequestHandler, status: int, value: Any) -> None:
    data = json.dumps(value).encode()
    h.send_response(status)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", str(len(data)))
    h.end_headers()
    h.wfile.write(data)


def _serve(port: int, handle: Any) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            print(f"[{port}] {self.command} {self.path}")

        def do_GET(self) -> None:
            handle(self)

        do_POST = do_GET

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def cloud_api(h: BaseHTTPRequestHandler) -> None:
    length = int(h.headers.get("Content-Length") or 0)
    body = json.loads(h.rfile.read(length) or b"{}") if length else {}
    path = urlsplit(h.path).path
    if path == "/api/models":
        _reply(
            h, 200, {"object": "list", "data": [{"id": "zen-1", "object": "model", "created": 0, "owned_by": "hanzo"}]}
        )
        return
    if path != "/api/chat/completions":
        _reply(h, 404, {"error": "not found"})
        return
    words = ["Streaming", " through", " the", " Hanzo", " gateway", "."]
    if not body.get("stream"):
        message = {"role": "assistant", "content": "".join(words)}
        choice = {"index": 0, "message": message, "finish_reason": "stop"}
        _reply(h, 200, {"id": "c1", "object": "chat.completion", "created": 0, "model": "zen-1", "choices": [choice]})
        return
    h.send_response(200)
    h.send_header("Content-Type", "text/event-stream")
    h.send_header("Transfer-Encoding", "chunked")
    h.end_headers()
    for word in words:
        delta = {"index": 0, "delta": {"content": word}, "finish_reason": None}
        chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": "zen-1", "choices": [delta]}
        data = b"data: " + json.dumps(chunk).encode() + b"\n\n"
        h.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        h.wfile.flush()
        time.sleep(0.3)  # the gaps a model has between tokens: the client must see each chunk as it comes
    done = b"data: [DONE]\n\n"
    h.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(done), done))
    h.wfile.flush()


def commerce(h: BaseHTTPRequestHandler) -> None:
    url = urlsplit(h.path)
    user = parse_qs(url.query).get("user", ["hanzo/alice"])[0]
    if url.path not in ("/api/v1/billing/balance", "/v1/billing/balance"):
        _reply(h, 404, {"error": "not found"})
        return
    available = 0 if user.endswith("/broke") else 4200
    _reply(h, 200, {"user": user, "currency": "usd", "balance": available, "holds": 0, "available": available})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cloud-api", type=int, default=18000)
    parser.add_argument("--commerce", type=int, default=18001)
    parser.add_argument("--iam", type=int, default=18002)
    parser.add_argument("--token-file", default=str(Path(__file__).with_name("token.txt")))
    args = parser.parse_args()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwks = {"keys": [{**json.loads(RSAAlgorithm.to_jwk(key.public_key())), "kid": "demo", "use": "sig"}]}
    issuer = f"http://127.0.0.1:{args.iam}"

    def iam(h: BaseHTTPRequestHandler) -> None:
        _reply(h, 200, jwks) if urlsplit(h.path).path == "/.well-known/jwks" else _reply(h, 404, {})

    now = int(time.time())
    claims = {
        "iss": issuer,
        "sub": "alice",
        "owner": "hanzo",
        "email": "alice@hanzo.ai",
        "iat": now,
        "exp": now + 86400,
    }
    Path(args.token_file).write_text(jwt.encode(claims, key, algorithm="RS256", headers={"kid": "demo"}))
    servers = [_serve(args.cloud_api, cloud_api), _serve(args.commerce, commerce), _serve(args.iam, iam)]
    print(
        f"cloud-api :{args.cloud_api}, Commerce :{args.commerce}, IAM :{args.iam}; token in {args.token_file}",
        flush=True,
    )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        for server in servers:
            server.shutdown()


if __name__ == "__main__":
    main()
