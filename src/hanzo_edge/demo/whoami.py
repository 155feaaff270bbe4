"""A tiny echo backend in the spirit of ``traefik/whoami``, bundled for the quick start and the tests.

``GET /`` (any path) answers ``text/plain`` with the hostname, the backend's name, the client address and the request
as received, so a user can see exactly what the ingress forwarded. ``/health`` answers ``OK``. ``?status=NNN`` sets
the status code.

Run: ``python -m hanzo_edge.demo.whoami --port 8081 --name whoami-1``.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
from urllib.parse import parse_qs

import httptools

__all__ = ["WhoamiProtocol", "serve"]


class WhoamiProtocol(asyncio.Protocol):
    """HTTP/1.1 keep-alive echo server connection."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.body_size = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.transport is not None:
                self.transport.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                self.transport.close()

    def on_message_begin(self) -> None:
        self.url = b""
        self.headers = []
        self.body_size = 0

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_body(self, body: bytes) -> None:
        self.body_size += len(body)

    def on_message_complete(self) -> None:
        if self.transport is None:
            return
        method = self.parser.get_method()
        path, _, query = self.url.partition(b"?")
        params = parse_qs(query.decode("latin-1"))
        status = int(params.get("status", ["200"])[0])
        if path == b"/health":
            text = b"OK\n"
        else:
            peer = self.transport.get_extra_info("peername")
            lines = [
                f"Hostname: {socket.gethostname()}".encode(),
                f"Name: {self.name}".encode(),
                f"RemoteAddr: {peer[0]}:{peer[1]}".encode() if peer else b"RemoteAddr: ?",
                method + b" " + self.url + b" HTTP/" + self.parser.get_http_version().encode(),
            ]
            lines += [name + b": " + value for name, value in self.headers]
            if self.body_size:
                lines.append(b"BodyBytes: %d" % self.body_size)
            text = b"\r\n".join(lines) + b"\r\n"
        keep = self.parser.should_keep_alive()
        head = b"HTTP/1.1 %d Whoami\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n" % (
            status,
            len(text),
        )
        if not keep:
            head += b"Connection: close\r\n"
        self.transport.write(head + b"\r\n" + (b"" if method == b"HEAD" else text))
        if not keep:
            self.transport.close()


async def serve(host: str, port: int, name: str) -> asyncio.Server:
    """Start the echo server and return it (already listening)."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: WhoamiProtocol(name), host, port, reuse_address=True)


def main(argv: list[str] | None = None) -> int:
    """Run the echo backend until interrupted. Returns the exit code."""
    parser = argparse.ArgumentParser(prog="whoami", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--name", default="whoami")
    args = parser.parse_args(argv)

    async def run() -> None:
        server = await serve(args.host, args.port, args.name)
        print(f"whoami {args.name} listening on http://{args.host}:{args.port}", flush=True)
        async with server:
            await server.serve_forever()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
