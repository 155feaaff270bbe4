"""The per-request observer hook: called once per finished request with status, body bytes and duration."""

from __future__ import annotations

from typing import Any

from edge_wire import Client, async_test

from hanzo_edge.http.errors import ClientClosed
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response


@async_test
async def test_observer_sees_status_bytes_and_duration_of_each_request() -> None:
    calls: list[tuple[Any, ...]] = []

    async def handler(req: Request) -> Response:
        return Response(201 if req.path == "/a" else 404, Headers(), b"x" * (3 if req.path == "/a" else 7))

    c = Client(handler)
    c.ctx.observer = lambda req, status, size, duration, aborted: calls.append(
        (req.path, status, size, duration >= 0, aborted)
    )
    c.send(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n")
    await c.until(lambda: len(calls) == 2)
    assert calls == [("/a", 201, 3, True, False), ("/b", 404, 7, True, False)]
    await c.aclose()


@async_test
async def test_observer_records_499_when_the_client_went_away() -> None:
    calls: list[tuple[Any, ...]] = []

    async def handler(req: Request) -> Response:
        raise ClientClosed("client disconnected")

    c = Client(handler)
    c.ctx.observer = lambda req, status, size, duration, aborted: calls.append((status, aborted))
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await c.until(lambda: bool(calls))
    assert calls == [(499, True)]
    await c.aclose()


@async_test
async def test_no_observer_is_the_default() -> None:
    async def handler(req: Request) -> Response:
        return Response(200, Headers(), b"ok")

    c = Client(handler)
    assert c.ctx.observer is None
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await c.until(lambda: c.output.endswith(b"ok"))
    await c.aclose()
