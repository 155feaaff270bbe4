"""Only the HTTP/2 preface switches a plain connection to HTTP/2 (h2c by prior knowledge).

llhttp pauses on any ``PRI * HTTP/x.y`` request line followed by ``SM``; a line with another version than 2.0 is
no preface, so the connection stays HTTP/1.1 and answers 400, instead of being handed to the HTTP/2 protocol as if
the preface had been sent.
"""

from __future__ import annotations

from edge_wire import Client, async_test


@async_test
async def test_pri_line_of_another_version_is_not_the_http2_preface() -> None:
    client = Client()
    client.send(b"PRI * HTTP/1.0\r\n\r\nSM\r\n\r\n")
    await client.until(lambda: client.closed)
    assert client.output.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert type(client.proto).__name__ == "HttpProtocol"
    await client.aclose()
