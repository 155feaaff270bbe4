"""Review 3: the per-connection responseHeaderTimeout timer across exchanges with different timeouts.

A connection reused by a request without a timeout (or with a longer one) while the timer armed for an earlier,
shorter exchange is still pending: that timer must not fail the later exchange; an interim 1xx head does not stop
the clock (Go's transport); a cancelled exchange (the client left) closes the connection and its timer.
"""

from __future__ import annotations

import asyncio

import pytest
from edge_wire import MockTransport, async_test

from hanzo_edge.http.errors import UpstreamTimeout
from hanzo_edge.http.upstream import UpstreamConnection

HEAD = b"GET / HTTP/1.1\r\nHost: backend\r\n\r\n"
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def connection() -> tuple[UpstreamConnection, MockTransport]:
    conn = UpstreamConnection(lambda _conn, _reusable: None)
    transport = MockTransport(asyncio.get_running_loop(), ("10.0.0.1", 80))
    transport.protocol = conn
    conn.connection_made(transport)  # type: ignore[arg-type]
    return conn, transport


async def _past(when: float) -> None:
    loop = asyncio.get_running_loop()
    bound = loop.time() + 5
    while loop.time() < when and loop.time() < bound:
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("later_timeout", [0.0, 10.0], ids=["none", "longer"])
@async_test
async def test_an_earlier_shorter_timer_never_fails_a_later_exchange(later_timeout: float) -> None:
    loop = asyncio.get_running_loop()
    conn, transport = connection()
    first = conn.send(HEAD, b"", chunked=False, head_request=False, response_header_timeout=0.05)
    conn.data_received(OK)
    await asyncio.wait_for(first, 1)
    second = conn.send(HEAD, b"", chunked=False, head_request=False, response_header_timeout=later_timeout)
    await _past(loop.time() + 0.15)  # the first exchange's timer has fired meanwhile
    assert not second.done()
    assert not transport.closed
    conn.data_received(OK)
    response = await asyncio.wait_for(second, 1)
    assert response.status == 200


@async_test
async def test_an_interim_head_does_not_stop_the_clock() -> None:
    conn, transport = connection()
    future = conn.send(HEAD, b"", chunked=False, head_request=False, response_header_timeout=0.1)
    conn.data_received(b"HTTP/1.1 100 Continue\r\n\r\n")
    with pytest.raises(UpstreamTimeout):
        await asyncio.wait_for(future, 5)
    assert transport.closed


@async_test
async def test_a_cancelled_exchange_closes_the_connection_and_its_timer() -> None:
    conn, transport = connection()
    future = conn.send(HEAD, b"", chunked=False, head_request=False, response_header_timeout=5.0)
    waiter = asyncio.ensure_future(future)
    await asyncio.sleep(0)
    waiter.cancel()  # what the proxy does on a client that left: close the connection (http/proxy.py)
    conn.close()
    conn.connection_lost(None)
    assert transport.closed
    assert conn._header_timer is None
