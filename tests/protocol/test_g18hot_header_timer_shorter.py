"""responseHeaderTimeout per exchange on one keep-alive upstream connection: a later exchange with a shorter timeout
than the earlier one (a gateway endpoint's timeout, or the time its deadline leaves) fails at its own deadline, not
at the instant the connection's timer was armed for by the earlier exchange."""

from __future__ import annotations

import asyncio

import pytest
from edge_wire import MockTransport, async_test

from hanzo_edge.http.errors import UpstreamTimeout
from hanzo_edge.http.upstream import UpstreamConnection

HEAD = b"GET / HTTP/1.1\r\nHost: backend\r\n\r\n"
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


@async_test
async def test_a_shorter_timeout_after_a_longer_one_fails_in_its_own_time() -> None:
    loop = asyncio.get_running_loop()
    conn = UpstreamConnection(lambda _conn, _reusable: None)
    transport = MockTransport(loop, ("10.0.0.1", 80))
    transport.protocol = conn
    conn.connection_made(transport)  # type: ignore[arg-type]
    first = conn.send(HEAD, b"", chunked=False, head_request=False, response_header_timeout=30.0)
    conn.data_received(OK)
    assert (await asyncio.wait_for(first, 1)).status == 200
    started = loop.time()
    second = conn.send(HEAD, b"", chunked=False, head_request=False, response_header_timeout=0.1)
    with pytest.raises(UpstreamTimeout):
        await asyncio.wait_for(second, 5)
    waited = loop.time() - started
    assert 0.1 - 0.002 <= waited < 2.0
    assert transport.closed
