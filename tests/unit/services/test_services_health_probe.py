"""The real HTTP probe against a scripted asyncio server on 127.0.0.1 (loopback only, no waiting on time)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable

import pytest

from hanzo_edge.services.health_probe import ProbeError, http_probe

Answer = Callable[[str], bytes]


async def _with_server(answer: Answer, body: Callable[[str, list[str]], Awaitable[int]]) -> tuple[int, list[str]]:
    """Serve ``answer(request_head)`` per connection; run ``body(base_url, heads)``; return (result, request heads)."""
    heads: list[str] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        heads.append(head)
        writer.write(answer(head))
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        result = await body(f"http://127.0.0.1:{port}", heads)
    finally:
        server.close()
        await server.wait_closed()
    return result, heads


def _status(code: int, extra: str = "") -> bytes:
    return f"HTTP/1.1 {code} X\r\n{extra}Content-Length: 0\r\n\r\n".encode()


def test_returns_status_and_sends_the_request_head() -> None:
    async def body(base: str, heads: list[str]) -> int:
        return await http_probe(base + "/health?x=1", "HEAD", {"X-Check": "yes", "Host": "svc.local"}, 5.0, True)

    status, heads = asyncio.run(_with_server(lambda head: _status(204), body))
    assert status == 204
    lines = heads[0].split("\r\n")
    assert lines[0] == "HEAD /health?x=1 HTTP/1.1"
    assert "Host: svc.local" in lines
    assert "X-Check: yes" in lines
    assert "Connection: close" in lines
    assert "User-Agent: Go-http-client/1.1" in lines


def test_default_host_is_the_url_authority() -> None:
    async def body(base: str, heads: list[str]) -> int:
        return await http_probe(base, "GET", {}, 5.0, True)

    status, heads = asyncio.run(_with_server(lambda head: _status(200), body))
    assert status == 200
    assert heads[0].startswith("GET / HTTP/1.1\r\n")
    assert re.search(r"\r\nHost: 127\.0\.0\.1:\d+\r\n", heads[0])


def _redirecting(head: str) -> bytes:
    if head.startswith(("GET /start ", "POST /start ")):
        return _status(302, "Location: /final\r\n")
    return _status(200 if " /final " in head else 404)


@pytest.mark.parametrize(
    ("follow", "method", "expected_status", "expected_requests"),
    [
        pytest.param(True, "GET", 200, ["GET /start", "GET /final"], id="followed"),
        pytest.param(True, "POST", 200, ["POST /start", "GET /final"], id="302 turns POST into GET"),
        pytest.param(False, "GET", 302, ["GET /start"], id="not followed"),
    ],
)
def test_redirects(follow: bool, method: str, expected_status: int, expected_requests: list[str]) -> None:
    async def body(base: str, heads: list[str]) -> int:
        return await http_probe(base + "/start", method, {}, 5.0, follow)

    status, heads = asyncio.run(_with_server(_redirecting, body))
    assert status == expected_status
    assert [" ".join(h.split(" ")[:2]) for h in heads] == expected_requests


def test_interim_responses_are_skipped() -> None:
    async def body(base: str, heads: list[str]) -> int:
        return await http_probe(base, "GET", {}, 5.0, True)

    status, _ = asyncio.run(_with_server(lambda head: b"HTTP/1.1 100 Continue\r\n\r\n" + _status(503), body))
    assert status == 503


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(b"garbage\r\n\r\n", id="bad status line"),
        pytest.param(b"HTTP/1.1 2", id="closed mid-head"),
    ],
)
def test_malformed_answer_raises_probe_error(answer: bytes) -> None:
    async def body(base: str, heads: list[str]) -> int:
        return await http_probe(base, "GET", {}, 5.0, True)

    with pytest.raises(ProbeError):
        asyncio.run(_with_server(lambda head: answer, body))


def test_connection_refused_raises_os_error() -> None:
    async def scenario() -> int:
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        return await http_probe(f"http://127.0.0.1:{port}/", "GET", {}, 5.0, True)

    with pytest.raises(OSError):
        asyncio.run(scenario())
