"""A request body its consumer gives up (``StreamBody.discard`` → ``HttpProtocol.close``) keeps the response.

The client connection cannot carry another request before the body's end was read, so it closes, but only after the
response is written: Go's server answers first too. Before ``BodySource.close`` existed nothing could reach the
client connection through its body; giving the body up must not cut the answer.
"""

from __future__ import annotations

import pytest
from edge_wire import FIXED_DATE, Client, async_test, use_fixed_date

from hanzo_edge.http.body import StreamBody
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response


@pytest.fixture(autouse=True)
def _fixed_date(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fixed_date(monkeypatch)


async def gives_the_body_up(req: Request) -> Response:
    assert isinstance(req.body, StreamBody)
    req.body.discard()
    return Response(200, Headers(), b"ok")


@async_test
async def test_a_discarded_unfinished_body_gets_its_response_then_close() -> None:
    c = Client(gives_the_body_up)
    c.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
    await c.until(lambda: c.closed)

    assert c.output == b"HTTP/1.1 200 OK\r\n" + FIXED_DATE + b"Content-Length: 2\r\nConnection: close\r\n\r\nok"
    assert not c.transport.late_writes


@async_test
async def test_a_discarded_body_that_ends_before_the_answer_keeps_the_connection() -> None:
    c = Client(gives_the_body_up)
    c.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
    await c.until(lambda: c.output.endswith(b"ok"))

    assert c.output == b"HTTP/1.1 200 OK\r\n" + FIXED_DATE + b"Content-Length: 2\r\n\r\nok"
    assert not c.closed
    await c.aclose()
