"""``compress``: Traefik's encoding negotiation, what is (not) compressed, streaming compression, config errors."""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Callable
from typing import Any

import brotli  # type: ignore[import-untyped]
import pytest
import zstandard

from hanzo_edge.config.middlewares import Compress as CompressConfig
from hanzo_edge.http.body import StreamBody, body_bytes
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response
from hanzo_edge.middlewares.base import BuildContext
from hanzo_edge.middlewares.compress import Compress, negotiate_encoding, parse_media_type

BIG = b"The quick brown fox jumps over the lazy dog. " * 100  # 4500 bytes
SMALL = b"tiny body"


def _decode(encoding: str | None, data: bytes) -> bytes:
    if encoding == "gzip":
        return zlib.decompress(data, 31)
    if encoding == "br":
        return bytes(brotli.decompress(data))
    if encoding == "zstd":
        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    return data


def _stream(chunks: list[bytes], length: int | None = None, eof: bool = True) -> StreamBody:
    body = StreamBody(None, length)
    for chunk in chunks:
        body.feed(chunk)
    if eof:
        body.feed_eof()
    return body


def _build(**options: Any) -> Callable[[Callable[[Request], Any]], Compress]:
    config = CompressConfig(**options)
    return lambda next: Compress(next, config, name="c@file", ctx=BuildContext())


def _request(method: str = "GET", headers: list[tuple[str, str]] | None = None) -> Request:
    raw = [(b"Host", b"app.test")] + [(n.encode(), v.encode()) for n, v in headers or []]
    return Request(method, "/", Headers(raw), host="app.test")


# ------------------------------------------------------------------------------------------------- negotiation

ALL = ("gzip", "br", "zstd")


@pytest.mark.parametrize(
    ("accept", "encodings", "default", "expected"),
    [
        pytest.param([""], ALL, "", "identity", id="empty"),
        pytest.param(["gzip, br"], ALL, "", "gzip", id="gzip-br-no-weight"),
        pytest.param(["gzip, br, zstd"], ALL, "", "gzip", id="gzip-br-zstd-no-weight"),
        pytest.param(["compress, gzip"], ALL, "", "gzip", id="known-among-unknown"),
        pytest.param(["compress, rar"], ALL, "", "not_acceptable", id="unknown-only"),
        pytest.param(["*"], ALL, "", "gzip", id="wildcard-first-encoding"),
        pytest.param(["*"], ALL, "br", "br", id="wildcard-default-encoding"),
        pytest.param(["br;q=0.8, gzip;q=1.0, *;q=0.1"], ALL, "", "gzip", id="follows-weight"),
        pytest.param(["br;q=0.8, identity;q=1.0"], ALL, "", "identity", id="identity-higher"),
        pytest.param(["br;q=0.8, identity;q=0.8"], ALL, "", "br", id="identity-equal-loses"),
        pytest.param(["compress;q=1.0, gzip;q=0.5"], ALL, "", "gzip", id="ignore-unknown"),
        pytest.param(["compress;q=1.0, gzip, identity;q=0"], ALL, "", "gzip", id="non-zero-fallback"),
        pytest.param(["compress;q=1.0, identity;q=0"], ALL, "", "not_acceptable", id="identity-zero"),
        pytest.param(["compress;q=1.0, *;q=0"], ALL, "", "not_acceptable", id="wildcard-zero"),
        pytest.param(["gzip, *;q=0"], ALL, "", "gzip", id="non-zero-beats-zero"),
        pytest.param(["zstd, gzip, br"], ("br", "gzip"), "", "br", id="zstd-forbidden-br-first"),
        pytest.param(["br;q=0.8, gzip;q=1.0, *;q=0.1"], ("zstd", "br"), "", "br", id="weight-forbidden"),
        pytest.param(["gzip, br;q=0.9"], ("gzip", "br"), "", "gzip", id="mixed-weight"),
        pytest.param(["br;q=0, gzip;q=0, zstd;q=0"], ALL, "", "not_acceptable", id="zero-weights"),
        pytest.param(["br;q=0, gzip;q=0, zstd;q=0"], ALL, "br", "not_acceptable", id="zero-weights-default"),
        pytest.param(["br;q=1.0, gzip;q=1.0, zstd;q=1.0"], ALL, "", "gzip", id="same-weight-config-order"),
        pytest.param(["br;q=1.0, zstd;q=1.0, gzip;q=1.0"], ALL, "br", "gzip", id="same-weight-default-no-effect"),
        pytest.param(["br", "zstd;q=0.5"], ALL, "", "br", id="several-fields"),
        pytest.param(["GZIP"], ALL, "", "not_acceptable", id="case-sensitive-like-traefik"),
    ],
)
def test_negotiation_follows_traefik(
    accept: list[str], encodings: tuple[str, ...], default: str, expected: str
) -> None:
    assert negotiate_encoding(accept, encodings, default) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("text/html", ("text/html", {}), id="plain"),
        pytest.param("Text/HTML; Charset=UTF-8", ("text/html", {"charset": "UTF-8"}), id="case"),
        pytest.param('text/plain; a="x;y"; b=c', ("text/plain", {"a": "x;y", "b": "c"}), id="quoted"),
        pytest.param("text/html;", ("text/html", {}), id="trailing-semicolon"),
    ],
)
def test_parse_media_type(value: str, expected: tuple[str, dict[str, str]]) -> None:
    assert parse_media_type(value) == expected


@pytest.mark.parametrize("value", ["text", "", "text/html; charset", "a b/c", "text/plain; a=1; a=2"])
def test_parse_media_type_errors(value: str) -> None:
    with pytest.raises(ValueError, match="mime"):
        parse_media_type(value)


# -------------------------------------------------------------------------------------------------- responses


def _response(status: int = 200, body: Any = BIG, headers: list[tuple[str, str]] | None = None) -> Response:
    raw = [(n.encode(), v.encode()) for n, v in (headers or [("Content-Type", "text/html; charset=utf-8")])]
    return Response(status, Headers(raw), body() if callable(body) else body)


@pytest.mark.parametrize(
    ("options", "method", "req_headers", "response", "encoding", "vary"),
    [
        pytest.param({}, "GET", [("Accept-Encoding", "gzip")], _response, "gzip", True, id="gzip"),
        pytest.param({}, "GET", [("Accept-Encoding", "br")], _response, "br", True, id="br"),
        pytest.param({}, "GET", [("Accept-Encoding", "zstd")], _response, "zstd", True, id="zstd"),
        pytest.param({}, "GET", [("Accept-Encoding", "gzip")], lambda: _response(body=SMALL), None, True, id="small"),
        pytest.param({}, "GET", [], _response, None, False, id="no-accept-encoding"),
        pytest.param({"default_encoding": "br"}, "GET", [], _response, "br", True, id="default-encoding"),
        pytest.param({}, "GET", [("Accept-Encoding", "")], _response, None, False, id="empty-accept-encoding"),
        pytest.param({}, "HEAD", [("Accept-Encoding", "gzip")], _response, None, False, id="head"),
        pytest.param(
            {},
            "POST",
            [("Accept-Encoding", "gzip"), ("Content-Type", "application/grpc")],
            _response,
            None,
            False,
            id="grpc-request",
        ),
        pytest.param(
            {},
            "GET",
            [("Accept-Encoding", "gzip")],
            lambda: _response(headers=[("Content-Encoding", "br")]),
            "br-untouched",
            True,
            id="already-encoded",
        ),
        pytest.param(
            {}, "GET", [("Accept-Encoding", "gzip")], lambda: _response(204, b""), None, True, id="no-content"
        ),
        pytest.param(
            {}, "GET", [("Accept-Encoding", "gzip")], lambda: _response(304, b""), None, True, id="not-modified"
        ),
        pytest.param(
            {},
            "GET",
            [("Accept-Encoding", "gzip")],
            lambda: _response(206, headers=[("Content-Range", "bytes 0-4499/9000")]),
            None,
            True,
            id="range",
        ),
        pytest.param(
            {"excluded_content_types": ["text/html"]},
            "GET",
            [("Accept-Encoding", "gzip")],
            _response,
            None,
            True,
            id="excluded-type",
        ),
        pytest.param(
            {"included_content_types": ["application/json"]},
            "GET",
            [("Accept-Encoding", "gzip")],
            _response,
            None,
            True,
            id="not-included",
        ),
        pytest.param(
            {"included_content_types": ["text/html; charset=utf-8"]},
            "GET",
            [("Accept-Encoding", "gzip")],
            _response,
            "gzip",
            True,
            id="included-with-params",
        ),
        pytest.param(
            {},
            "GET",
            [("Accept-Encoding", "gzip")],
            lambda: _response(headers=[("Content-Type", "text")]),
            None,
            True,
            id="unparsable-content-type",
        ),
        pytest.param(
            {},
            "GET",
            [("Accept-Encoding", "gzip")],
            lambda: _response(body=lambda: _stream([BIG[:100], BIG[100:]], len(BIG))),
            "gzip",
            True,
            id="known-length-stream",
        ),
        pytest.param(
            {},
            "GET",
            [("Accept-Encoding", "gzip")],
            lambda: _response(body=lambda: _stream([SMALL], len(SMALL))),
            None,
            True,
            id="known-length-small",
        ),
        pytest.param(
            {},
            "GET",
            [("Accept-Encoding", "gzip")],
            lambda: _response(body=lambda: _stream([SMALL])),
            None,
            True,
            id="chunked-small-complete",
        ),
        pytest.param(
            {"min_response_body_bytes": 4},
            "GET",
            [("Accept-Encoding", "gzip")],
            lambda: _response(body=lambda: _stream([SMALL])),
            "gzip",
            True,
            id="custom-min",
        ),
    ],
)
def test_what_gets_compressed(
    options: dict[str, Any],
    method: str,
    req_headers: list[tuple[str, str]],
    response: Callable[[], Response],
    encoding: str | None,
    vary: bool,
) -> None:
    async def backend(req: Request) -> Response:
        return response()

    async def go() -> tuple[Response, bytes, bytes]:
        plain = await body_bytes(response().body)
        out = await _build(**options)(backend)(_request(method, req_headers))
        return out, await body_bytes(out.body), plain

    out, data, plain = asyncio.run(go())
    got_encoding = out.headers.get("Content-Encoding")
    if encoding == "br-untouched":
        assert got_encoding == "br"
        assert data == BIG
    elif encoding is None:
        assert got_encoding is None
        assert data == plain
    else:
        assert got_encoding == encoding
        assert out.headers.get("Content-Length") is None
        assert _decode(encoding, data) == plain
        assert len(data) < len(plain) or plain == SMALL
    assert (out.headers.get("Vary") == "Accept-Encoding") is vary


def test_vary_is_not_duplicated() -> None:
    async def backend(req: Request) -> Response:
        return _response(headers=[("Content-Type", "text/plain"), ("Vary", "Origin, accept-encoding")])

    out = asyncio.run(_build()(backend)(_request(headers=[("Accept-Encoding", "gzip")])))
    assert out.headers.get_all("Vary") == ["Origin, accept-encoding"]


def test_accept_ranges_and_content_length_are_removed_when_compressing() -> None:
    async def backend(req: Request) -> Response:
        return _response(
            body=_stream([BIG], len(BIG)),
            headers=[("Content-Type", "text/plain"), ("Content-Length", str(len(BIG))), ("Accept-Ranges", "bytes")],
        )

    out = asyncio.run(_build()(backend)(_request(headers=[("Accept-Encoding", "gzip")])))
    assert out.headers.get("Content-Length") is None
    assert out.headers.get("Accept-Ranges") is None
    assert isinstance(out.body, StreamBody)
    assert out.body.length is None  # sent chunked


@pytest.mark.parametrize("encoding", ["gzip", "br", "zstd"])
def test_streams_flush_every_chunk_so_events_arrive_at_once(encoding: str) -> None:
    events = [b"event: tick\ndata: %d\n\n" % i for i in range(3)]

    async def go() -> None:
        upstream = StreamBody(None, None)
        upstream.feed(events[0])

        async def backend(req: Request) -> Response:
            return _response(body=upstream, headers=[("Content-Type", "text/event-stream")])

        out = await _build()(backend)(_request(headers=[("Accept-Encoding", encoding)]))
        assert out.headers.get("Content-Encoding") == encoding
        assert isinstance(out.body, StreamBody)
        if encoding == "gzip":
            decoder: Any = zlib.decompressobj(31)
        elif encoding == "br":
            decoder = brotli.Decompressor()
        else:
            decoder = zstandard.ZstdDecompressor().decompressobj()

        def decode(data: bytes) -> bytes:
            return bytes(decoder.process(data)) if encoding == "br" else decoder.decompress(data)

        assert decode(await out.body.read_chunk()) == events[0], "the first event is decodable before the next"
        for event in events[1:]:
            upstream.feed(event)
            assert decode(await out.body.read_chunk()) == event
        upstream.feed_eof()
        rest = b""
        while chunk := await out.body.read_chunk():
            rest += chunk
        assert decode(rest) == b""

    asyncio.run(go())


def test_upstream_failure_mid_stream_fails_the_compressed_body() -> None:
    async def go() -> None:
        upstream = _stream([BIG], None, eof=False)

        async def backend(req: Request) -> Response:
            return _response(body=upstream)

        out = await _build()(backend)(_request(headers=[("Accept-Encoding", "gzip")]))
        assert isinstance(out.body, StreamBody)
        upstream.feed_error(ConnectionResetError("gone"))
        with pytest.raises(Exception, match="gone"):
            await out.body.read()

    asyncio.run(go())


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param(
            {"excluded_content_types": ["a/b"], "included_content_types": ["c/d"]},
            "mutually exclusive",
            id="both-lists",
        ),
        pytest.param({"excluded_content_types": ["nope"]}, "parsing excluded media type", id="bad-excluded"),
        pytest.param({"included_content_types": ["x y/z"]}, "parsing included media type", id="bad-included"),
        pytest.param({"encodings": []}, "at least one encoding", id="no-encoding"),
        pytest.param({"encodings": ["gzip", "deflate"]}, "unsupported encoding: deflate", id="bad-encoding"),
        pytest.param({"encodings": ["gzip"], "default_encoding": "br"}, "unsupported default encoding", id="default"),
    ],
)
def test_config_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _build(**options)(lambda req: None)  # type: ignore[arg-type,return-value]
