"""responseHeaderTimeout on a keep-alive upstream connection: one timer per connection, a deadline per exchange.

The timer is armed when an exchange starts and none is armed; when it fires it fails an exchange whose head is late,
re-arms itself for a later exchange's deadline, or lapses when no head is awaited. So back-to-back exchanges create
no timer each, and every exchange still gets its full timeout, measured from its own start.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from edge_wire import MockTransport, async_test

from hanzo_edge.http.errors import UpstreamTimeout
from hanzo_edge.http.upstream import UpstreamConnection

HEAD = b"GET / HTTP/1.1\r\nHost: backend\r\n\r\n"
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class TimerCount:
    """Counts the timers a loop is asked for (call_at and call_later)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.created = 0
        for name in ("call_at", "call_later"):
            original = getattr(loop, name)
            setattr(loop, name, self._counting(original))

    def _counting(self, original: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.created += 1
            return original(*args, **kwargs)

        return call


def keep_alive_connection() -> tuple[UpstreamConnection, MockTransport]:
    conn = UpstreamConnection(lambda _conn, _reusable: None)
    transport = MockTransport(asyncio.get_running_loop(), ("10.0.0.1", 80))
    transport.protocol = conn
    conn.connection_made(transport)  # type: ignore[arg-type]
    return conn, transport


@async_test
async def test_back_to_back_exchanges_share_one_timer() -> None:
    loop = asyncio.get_running_loop()
    count = TimerCount(loop)
    conn, transport = keep_alive_connection()
    for _ in range(50):
        future = conn.send(HEAD, b"", chunked=False, head_request=False, response_header_timeout=5.0)
        conn.data_received(OK)
        assert future.done()  # the head was in that read (no wait_for here: it would add timers of its own)
        assert (await future).status == 200
    assert count.created == 1
    assert not transport.closed
    conn.close()


@async_test
async def test_a_later_exchange_gets_its_whole_timeout_and_then_fails() -> None:
    loop = asyncio.get_running_loop()
    timeout = 0.3
    conn, transport = keep_alive_connection()
    first = conn.send(HEAD, b"", chunked=False, head_request=False, response_header_timeout=timeout)
    conn.data_received(OK)
    await asyncio.wait_for(first, 1)
    # The connection's timer was armed for the first exchange; the second starts later and must get all of its
    # own timeout, not what was left of the first's.
    await asyncio.sleep(timeout / 2)
    started = loop.time()
    second = conn.send(HEAD, b"", chunked=False, head_request=False, response_header_timeout=timeout)
    with pytest.raises(UpstreamTimeout):
        await asyncio.wait_for(second, 5)
    waited = loop.time() - started
    assert waited >= timeout - 0.002
    assert transport.closed


@async_test
async def test_timer_lapses_on_an_idle_connection_and_a_new_exchange_arms_one() -> None:
    loop = asyncio.get_running_loop()
    timeout = 0.05
    conn, transport = keep_alive_connection()
    first = conn.send(HEAD, b"", chunked=False, head_request=False, response_header_timeout=timeout)
    conn.data_received(OK)
    await asyncio.wait_for(first, 1)
    deadline = loop.time() + 5
    while conn._header_timer is not None and loop.time() < deadline:  # the first timer fires and finds no deadline
        await asyncio.sleep(0.01)
    assert conn._header_timer is None
    assert not transport.closed  # idle past the timeout is no failure
    second = conn.send(HEAD, b"", chunked=False, head_request=False, response_header_timeout=timeout)
    with pytest.raises(UpstreamTimeout):
        await asyncio.wait_for(second, 5)
    assert transport.closed


@async_test
async def test_closing_the_connection_cancels_its_timer() -> None:
    conn, transport = keep_alive_connection()
    future = conn.send(HEAD, b"", chunked=False, head_request=False, response_header_timeout=30.0)
    timer = conn._header_timer
    assert timer is not None
    transport.close()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert timer.cancelled()
    assert future.done()
