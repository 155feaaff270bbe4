"""Test doubles for the services layer: child handlers, a hand-driven clock and sleep, request builders."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from hanzo_edge.http.body import StreamBody
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response


def request(
    path: str = "/",
    *,
    method: str = "GET",
    cookie: str | None = None,
    headers: list[tuple[str, str]] | None = None,
    body: bytes | StreamBody = b"",
) -> Request:
    """Return a request for ``path``; ``cookie`` becomes a ``Cookie`` header."""
    raw = [(b"Host", b"example.org")]
    if cookie is not None:
        raw.append((b"Cookie", cookie.encode("latin-1")))
    for name, value in headers or []:
        raw.append((name.encode("latin-1"), value.encode("latin-1")))
    return Request(method, path, Headers(raw), host="example.org", body=body)


class Child:
    """A child handler that answers ``status`` with an ``X-Child`` header naming it and records what it got."""

    def __init__(self, name: str, status: int = 200) -> None:
        self.name = name
        self.status = status
        self.requests: list[Request] = []
        self.bodies: list[bytes] = []

    async def __call__(self, req: Request) -> Response:
        self.requests.append(req)
        body = req.body
        self.bodies.append(body if isinstance(body, bytes) else await body.read())
        return Response(self.status, Headers([(b"X-Child", self.name.encode())]))

    @property
    def calls(self) -> int:
        return len(self.requests)


class FailingChild:
    """A child handler that raises ``exc`` (an instance or a class) on every call."""

    def __init__(self, exc: BaseException | type[BaseException]) -> None:
        self.exc = exc
        self.calls = 0

    async def __call__(self, req: Request) -> Response:
        self.calls += 1
        raise self.exc


class GatedChild:
    """A child handler whose responses are released by hand: ``release()`` answers the oldest pending request."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.pending: list[asyncio.Future[Response]] = []

    async def __call__(self, req: Request) -> Response:
        future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self.pending.append(future)
        return await future

    def release(self, status: int = 200) -> None:
        self.pending.pop(0).set_result(Response(status, Headers([(b"X-Child", self.name.encode())])))


def child_name(resp: Response) -> str:
    """The ``X-Child`` header of a response from a fake child."""
    value = resp.headers.get("X-Child")
    assert value is not None
    return value


class ManualSleep:
    """An injectable ``sleep``: every call records its delay and waits until the test calls :meth:`wake`."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self._waiters: list[asyncio.Future[None]] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        await future

    @property
    def sleeping(self) -> int:
        return sum(1 for w in self._waiters if not w.done())

    async def wake(self) -> None:
        """End every pending sleep, then let the woken tasks run until they block again."""
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
        await settle()


async def settle(rounds: int = 20) -> None:
    """Let ready tasks run (yield to the loop a few times; no time passes)."""
    for _ in range(rounds):
        await asyncio.sleep(0)


class Spawner:
    """An injectable ``spawn`` that keeps the coroutines so tests run them when they choose."""

    def __init__(self) -> None:
        self.coros: list[Coroutine[Any, Any, None]] = []

    def __call__(self, coro: Coroutine[Any, Any, None]) -> None:
        self.coros.append(coro)

    async def run_all(self) -> None:
        coros, self.coros = self.coros, []
        for coro in coros:
            await coro

    def close_all(self) -> None:
        for coro in self.coros:
            coro.close()
        self.coros = []


def stream(*chunks: bytes, length: int | None = None, eof: bool = True) -> StreamBody:
    """A request body that already holds ``chunks`` (and its end, unless ``eof`` is False)."""
    body = StreamBody(None, length)
    for chunk in chunks:
        body.feed(chunk)
    if eof:
        body.feed_eof()
    return body
