"""Review 3: only the exact HTTP/2 preface hands a plain connection to HTTP/2 (h2c by prior knowledge).

llhttp pauses on ``PRI <target> HTTP/2.0`` followed by ``SM`` for any request target, and after leading empty
lines: neither is the 24-byte preface, and handing them over made HTTP/2 read its first frame at a wrong offset.
"""

from __future__ import annotations

from edge_wire import Client, async_test

from hanzo_edge.http.h2 import PREFACE


@async_test
async def test_a_pri_line_with_another_target_is_not_the_preface() -> None:
    client = Client()
    client.send(b"PRI /x HTTP/2.0\r\n\r\nSM\r\n\r\n")
    await client.until(lambda: client.closed)
    assert client.output.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert not client.transport.switched
    await client.aclose()


@async_test
async def test_a_preface_after_empty_lines_is_not_the_preface() -> None:
    client = Client()
    client.send(b"\r\n" + PREFACE)
    await client.until(lambda: client.closed)
    assert client.output.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert not client.transport.switched
    await client.aclose()


@async_test
async def test_the_exact_preface_in_pieces_still_switches_to_http2() -> None:
    client = Client()
    for piece in (PREFACE[:7], PREFACE[7:18], PREFACE[18:]):
        client.send(piece)
    await client.until(lambda: client.transport.switched)
    assert type(client.transport.protocol).__name__ == "H2Protocol"
    await client.until(lambda: bool(client.output))
    assert not client.output.startswith(b"HTTP/1.1")  # the server's SETTINGS frame, not an HTTP/1.1 answer
    await client.aclose()
