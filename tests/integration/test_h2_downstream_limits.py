"""HTTP/2 limits and attacks through the real CLI, with a real backend that counts what reaches it.

h2 → h1 downgrade smuggling never produces a second backend request; rapid reset is cut with GOAWAY
ENHANCE_YOUR_CALM while another client keeps being served; ``http2.maxConcurrentStreams`` is advertised and
enforced; ``keepAliveMaxRequests`` and SIGTERM send GOAWAY NO_ERROR and let in-flight streams finish.
"""

from __future__ import annotations

import signal
import time

import pytest
from edge_harness import catch_all, eventually
from hpack import Encoder
from hyperframe.frame import DataFrame, HeadersFrame

from h2_client import ErrorCodes, H2Client, raw_frame

pytestmark = pytest.mark.integration

SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: app.test\r\n\r\n"


def _headers(sid: int, block: list[tuple[bytes, bytes]], end: bool) -> bytes:
    frame = HeadersFrame(sid, Encoder().encode(block))
    frame.flags.add("END_HEADERS")
    if end:
        frame.flags.add("END_STREAM")
    return raw_frame(frame)


def _data(sid: int, data: bytes, end: bool) -> bytes:
    frame = DataFrame(sid, data)
    if end:
        frame.flags.add("END_STREAM")
    return raw_frame(frame)


POST = [(b":method", b"POST"), (b":scheme", b"http"), (b":path", b"/echo"), (b":authority", b"app.test")]


@pytest.mark.parametrize(
    ("extra", "body"),
    [
        ([(b"content-length", b"3")], b"abc" + SMUGGLED),  # content-length that disagrees with DATA
        ([(b"transfer-encoding", b"chunked")], b"0\r\n\r\n" + SMUGGLED),  # TE in an h2 request
        ([(b"x-a", b"1\r\nContent-Length: 0\r\n\r\n" + SMUGGLED.rstrip(b"\r\n"))], b""),  # CR/LF in a value
        ([(b"x-a:b", b"1")], b""),  # colon in a name
    ],
    ids=["content-length", "transfer-encoding", "crlf", "colon"],
)
def test_downgrade_smuggling_never_reaches_the_backend_as_a_second_request(backend, ingress, extra, body) -> None:
    app = backend("app")
    proxy = ingress(catch_all(app.url))
    with H2Client(proxy.port) as client:
        client.send(_headers(1, POST + extra, end=not body) + (_data(1, body, end=True) if body else b""))
        client.read_until_closed()
        assert client.peer.goaway_code == ErrorCodes.PROTOCOL_ERROR
    # The proxy still serves, and the backend never saw the hidden request.
    with H2Client(proxy.port) as client:
        assert client.get("/after", authority="app.test").status == 200
    assert app.requests_to("/smuggled") == []
    assert [r.path for r in app.received if r.path != "/echo"] == ["/after"]


def test_rapid_reset_is_cut_while_other_clients_are_served(backend, ingress) -> None:
    app = backend("app")
    proxy = ingress(catch_all(app.url))
    with H2Client(proxy.port) as attacker, H2Client(proxy.port) as bystander:
        for _ in range(400):
            sid = attacker.peer.request("/slow?ms=2000", "app.test")
            attacker.peer.reset(sid)
        try:
            attacker.flush()
        except OSError:
            pass  # the server may already have cut us
        attacker.read_until_closed()
        assert attacker.peer.goaway_code == ErrorCodes.ENHANCE_YOUR_CALM
        started = time.monotonic()
        assert bystander.get("/ok", authority="app.test").status == 200
        assert time.monotonic() - started < 2.0


def test_max_concurrent_streams_is_advertised_and_enforced(backend, ingress) -> None:
    app = backend("app")
    proxy = ingress(catch_all(app.url), "--entrypoints.web.http2.maxConcurrentStreams=3")
    with H2Client(proxy.port) as client:
        client.pump(lambda: client.peer.server_settings)
        assert client.peer.server_settings[3] == 3  # SETTINGS_MAX_CONCURRENT_STREAMS
        sids = [client.request("/slow?ms=400", "app.test") for _ in range(4)]
        results = [client.response(sid) for sid in sids]
    assert [r.status for r in results[:3]] == [200, 200, 200]
    assert results[3].reset == ErrorCodes.REFUSED_STREAM


def test_keep_alive_max_requests_sends_goaway_after_the_last_request(backend, ingress) -> None:
    app = backend("app")
    proxy = ingress(catch_all(app.url), "--entrypoints.web.transport.keepAliveMaxRequests=2")
    with H2Client(proxy.port) as client:
        assert client.get("/1", authority="app.test").status == 200
        assert client.get("/2", authority="app.test").status == 200
        client.read_until_closed()
        assert client.peer.goaway_code == ErrorCodes.NO_ERROR
        assert client.peer.goaway.last_stream_id == 3  # type: ignore[union-attr]


def test_sigterm_sends_goaway_and_drains_in_flight_streams(backend, ingress) -> None:
    app = backend("app")
    proxy = ingress(catch_all(app.url))
    with H2Client(proxy.port) as client:
        sid = client.request("/slow?ms=700", "app.test")
        eventually(lambda: app.open_connections > 0, timeout=5)
        proxy.signal(signal.SIGTERM)
        client.pump(lambda: client.peer.goaway is not None)
        assert client.peer.goaway_code == ErrorCodes.NO_ERROR
        result = client.response(sid)
        assert (result.status, result.body) == (200, b"slow done")
        client.read_until_closed()
    assert proxy.wait() == 0
