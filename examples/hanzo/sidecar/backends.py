"""Two backends for the sidecar example: ``api`` on 127.0.0.1:18091 and ``ui`` on 127.0.0.1:18092.

Each answers every request with JSON naming itself and echoing the path and the headers it received, so the
sidecar's choices show: which backend, the original ``Host``, ``X-Forwarded-Host``, ``X-Real-IP``, the identity
headers of an ``auth`` host. ``python backends.py [--api-port N] [--ui-port N]``.
"""

from __future__ import annotations

import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def backend(name: str, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return

        def do_GET(self) -> None:
            body = json.dumps(
                {"backend": name, "path": self.path, "headers": dict(self.headers.items())}, indent=2
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_PUT = do_DELETE = do_GET

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"{name} backend on 127.0.0.1:{server.server_address[1]}", flush=True)
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--api-port", type=int, default=18091)
    parser.add_argument("--ui-port", type=int, default=18092)
    options = parser.parse_args()
    backend("api", options.api_port)
    backend("ui", options.ui_port)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
