"""``contentType``: Go's ``http.DetectContentType`` table, and when the middleware sets the sniffed type."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hanzo_edge.config.dynamic import decode_dynamic
from hanzo_edge.http.body import StreamBody
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response
from hanzo_edge.middlewares.base import BuildContext, factory_for
from hanzo_edge.middlewares.content_type import detect_content_type

HTML = "text/html; charset=utf-8"
TEXT = "text/plain; charset=utf-8"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(b"", TEXT, id="empty"),
        pytest.param(b"\x01\x02\x03", "application/octet-stream", id="binary"),
        pytest.param(b"<HtMl><bOdY>blah blah blah</body></html>", HTML, id="html-mixed-case"),
        pytest.param(b"<HTML></HTML>", HTML, id="html"),
        pytest.param(b"   <!DOCTYPE HTML>...", HTML, id="doctype-leading-space"),
        pytest.param(b"\r\n<html>...", HTML, id="html-leading-crlf"),
        pytest.param(b"<!-- comment -->", HTML, id="comment"),
        pytest.param(b"<p>para", HTML, id="p-tag"),
        pytest.param(b"<pre>x", TEXT, id="tag-needs-terminator"),
        pytest.param("This is not HTML. It has ☃ though.".encode(), TEXT, id="plain-utf8"),
        pytest.param(b'{"a": 1}', TEXT, id="json-is-text"),
        pytest.param(b"\n<?xml!", "text/xml; charset=utf-8", id="xml"),
        pytest.param(b"\x00\x00\x01\x00", "image/x-icon", id="icon"),
        pytest.param(b"BM...", "image/bmp", id="bmp"),
        pytest.param(b"GIF87a", "image/gif", id="gif87"),
        pytest.param(b"GIF89a...", "image/gif", id="gif89"),
        pytest.param(b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp", id="webp"),
        pytest.param(b"\x89PNG\x0d\x0a\x1a\x0a", "image/png", id="png"),
        pytest.param(b"\xff\xd8\xff", "image/jpeg", id="jpeg"),
        pytest.param(b"%PDF-1.4", "application/pdf", id="pdf"),
        pytest.param(b"%!PS-Adobe-3.0", "application/postscript", id="postscript"),
        pytest.param(b"\xef\xbb\xbfHello", TEXT, id="utf8-bom"),
        pytest.param(b"\xfe\xff\x00\x41", "text/plain; charset=utf-16be", id="utf16be-bom"),
        pytest.param(b"ID3\x03", "audio/mpeg", id="mp3"),
        pytest.param(b"OggS\x00\x02", "application/ogg", id="ogg"),
        pytest.param(b"RIFF\x00\x00\x00\x00WAVEfmt ", "audio/wave", id="wave"),
        pytest.param(b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom<\x06t\xbfmdat", "video/mp4", id="mp4"),
        pytest.param(b"\x1a\x45\xdf\xa3", "video/webm", id="webm"),
        pytest.param(b"wOF2", "font/woff2", id="woff2"),
        pytest.param(b"\x1f\x8b\x08\x00", "application/x-gzip", id="gzip"),
        pytest.param(b"PK\x03\x04", "application/zip", id="zip"),
        pytest.param(b"\x00asm\x01\x00", "application/wasm", id="wasm"),
        pytest.param(b"a" * 600 + b"\x00", TEXT, id="only-first-512-bytes"),
    ],
)
def test_detect_content_type(data: bytes, expected: str) -> None:
    assert detect_content_type(data) == expected


def _config(options: dict[str, Any]) -> Any:
    config, _ = decode_dynamic({"http": {"middlewares": {"m": {"contentType": options}}}})
    return config.http.middlewares["m"].config


class _Source:
    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class Backend:
    """A fake ``next`` answering a canned status, headers and body."""

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes | list[bytes]) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    async def __call__(self, req: Request) -> Response:
        if isinstance(self.body, list):
            stream = StreamBody(_Source())
            for chunk in self.body:
                stream.feed(chunk)
            stream.feed_eof()
            return Response(self.status, Headers(list(self.headers)), stream)
        return Response(self.status, Headers(list(self.headers)), self.body)


async def _through(backend: Backend, method: str = "GET", options: dict[str, Any] | None = None) -> tuple[Any, bytes]:
    factory = factory_for("contentType")
    assert factory is not None
    handler = factory(backend, _config(options or {}), name="m@file", ctx=BuildContext())
    response = await handler(Request(method, "/", Headers([(b"Host", b"h")]), path="/"))
    body = response.body if isinstance(response.body, bytes) else await response.body.read()
    return response, body


CT = (b"Content-Type", b"application/json")


@pytest.mark.parametrize(
    ("status", "headers", "body", "method", "expected"),
    [
        pytest.param(200, [], b"<html>hi</html>", "GET", HTML, id="sniffed"),
        pytest.param(200, [], b"plain words", "GET", TEXT, id="sniffed-text"),
        pytest.param(404, [], b"\x89PNG\x0d\x0a\x1a\x0a....", "GET", "image/png", id="any-status-with-body"),
        pytest.param(200, [CT], b"<html>", "GET", "application/json", id="existing-type-kept"),
        pytest.param(200, [(b"Content-Encoding", b"gzip")], b"\x1f\x8b\x08", "GET", None, id="encoded-not-sniffed"),
        pytest.param(200, [], b"", "GET", None, id="empty-body"),
        pytest.param(204, [], b"", "GET", None, id="no-content"),
        pytest.param(304, [], b"", "GET", None, id="not-modified"),
        pytest.param(200, [], b"", "HEAD", None, id="head"),
        pytest.param(200, [], [b"<html>", b"<body>x</body>", b"</html>"], "GET", HTML, id="stream-first-chunk"),
        pytest.param(200, [], [b"\x00\x01", b"<html>"], "GET", "application/octet-stream", id="stream-binary"),
        pytest.param(200, [], [], "GET", None, id="empty-stream"),
    ],
)
def test_content_type_middleware(
    status: int, headers: list[tuple[bytes, bytes]], body: bytes | list[bytes], method: str, expected: str | None
) -> None:
    response, received = asyncio.run(_through(Backend(status, headers, body), method))
    assert response.status == status
    assert response.headers.get_all("Content-Type") == ([expected] if expected else [])
    assert received == (body if isinstance(body, bytes) else b"".join(body)), "the body must pass unchanged"


def test_auto_detect_false_is_a_no_op() -> None:
    factory = factory_for("contentType")
    assert factory is not None
    backend = Backend(200, [], b"<html>")
    assert factory(backend, _config({"autoDetect": False}), name="m@file", ctx=BuildContext()) is backend
    response, _ = asyncio.run(_through(backend, options={"autoDetect": True}))
    assert response.headers.get("Content-Type") == HTML
