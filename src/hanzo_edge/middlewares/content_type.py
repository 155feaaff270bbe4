"""``contentType``: re-enable Content-Type auto-detection (Traefik ``pkg/middlewares/contenttype``).

Traefik's entrypoints disable Go's sniffing, so a backend answer without ``Content-Type`` leaves without one. Behind
this middleware, Go's rule applies again: a response with no ``Content-Type``, no ``Content-Encoding``, a status that
allows a body and a non-empty body gets ``Content-Type: <http.DetectContentType(first bytes)>`` (at most the first
512 bytes are looked at; a streamed body is sniffed on its first chunk and then streams on unchanged). The
deprecated ``autoDetect: false`` turns the middleware into a no-op, as in Traefik.
"""

from __future__ import annotations

from hanzo_edge.config.middlewares import ContentType as ContentTypeConfig
from hanzo_edge.http.body import BodyError, relayed
from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.middlewares.base import BuildContext, register

__all__ = ["ContentType", "content_type", "detect_content_type"]

_SNIFF_LEN = 512
_WS = b"\t\n\x0c\r "
_HTML_TAGS = (
    b"<!DOCTYPE HTML", b"<HTML", b"<HEAD", b"<SCRIPT", b"<IFRAME", b"<H1", b"<DIV", b"<FONT", b"<TABLE", b"<A",
    b"<STYLE", b"<TITLE", b"<B", b"<BODY", b"<BR", b"<P", b"<!--",
)  # fmt: skip
_HTML = "text/html; charset=utf-8"
_TEXT = "text/plain; charset=utf-8"

# (mask, pattern, skip leading whitespace, content type): Go's maskedSig; an exactSig is an all-0xFF mask.
_Sig = tuple[bytes, bytes, bool, str]


def _exact(pattern: bytes, ct: str) -> _Sig:
    return b"\xff" * len(pattern), pattern, False, ct


_AFTER_HTML: tuple[_Sig, ...] = (
    (b"\xff\xff\xff\xff\xff", b"<?xml", True, "text/xml; charset=utf-8"),
    _exact(b"%PDF-", "application/pdf"),
    _exact(b"%!PS-Adobe-", "application/postscript"),
    (b"\xff\xff\x00\x00", b"\xfe\xff\x00\x00", False, "text/plain; charset=utf-16be"),
    (b"\xff\xff\x00\x00", b"\xff\xfe\x00\x00", False, "text/plain; charset=utf-16le"),
    (b"\xff\xff\xff\x00", b"\xef\xbb\xbf\x00", False, "text/plain; charset=utf-8"),
    _exact(b"\x00\x00\x01\x00", "image/x-icon"),
    _exact(b"\x00\x00\x02\x00", "image/x-icon"),
    _exact(b"BM", "image/bmp"),
    _exact(b"GIF87a", "image/gif"),
    _exact(b"GIF89a", "image/gif"),
    (b"\xff\xff\xff\xff\x00\x00\x00\x00\xff\xff\xff\xff\xff\xff", b"RIFF\x00\x00\x00\x00WEBPVP", False, "image/webp"),
    _exact(b"\x89PNG\x0d\x0a\x1a\x0a", "image/png"),
    _exact(b"\xff\xd8\xff", "image/jpeg"),
    (b"\xff\xff\xff\xff", b".snd", False, "audio/basic"),
    (b"\xff\xff\xff\xff\x00\x00\x00\x00\xff\xff\xff\xff", b"FORM\x00\x00\x00\x00AIFF", False, "audio/aiff"),
    (b"\xff\xff\xff", b"ID3", False, "audio/mpeg"),
    (b"\xff\xff\xff\xff\xff", b"OggS\x00", False, "application/ogg"),
    (b"\xff\xff\xff\xff\xff\xff\xff\xff", b"MThd\x00\x00\x00\x06", False, "audio/midi"),
    (b"\xff\xff\xff\xff\x00\x00\x00\x00\xff\xff\xff\xff", b"RIFF\x00\x00\x00\x00AVI ", False, "video/avi"),
    (b"\xff\xff\xff\xff\x00\x00\x00\x00\xff\xff\xff\xff", b"RIFF\x00\x00\x00\x00WAVE", False, "audio/wave"),
)
_AFTER_MP4: tuple[_Sig, ...] = (
    _exact(b"\x1a\x45\xdf\xa3", "video/webm"),
    (b"\x00" * 34 + b"\xff\xff", b"\x00" * 34 + b"LP", False, "application/vnd.ms-fontobject"),
    _exact(b"\x00\x01\x00\x00", "font/ttf"),
    _exact(b"OTTO", "font/otf"),
    _exact(b"ttcf", "font/collection"),
    _exact(b"wOFF", "font/woff"),
    _exact(b"wOF2", "font/woff2"),
    _exact(b"\x1f\x8b\x08", "application/x-gzip"),
    _exact(b"PK\x03\x04", "application/zip"),
    _exact(b"Rar!\x1a\x07\x00", "application/x-rar-compressed"),
    _exact(b"Rar!\x1a\x07\x01\x00", "application/x-rar-compressed"),
    _exact(b"\x00\x61\x73\x6d", "application/wasm"),
)
_BINARY = frozenset([*range(0x09), 0x0B, *range(0x0E, 0x1B), *range(0x1C, 0x20)])


def _masked(data: bytes, sig: _Sig, first_non_ws: int) -> bool:
    mask, pattern, skip_ws, _ = sig
    if skip_ws:
        data = data[first_non_ws:]
    if len(data) < len(pattern):
        return False
    return all(data[i] & m == p for i, (m, p) in enumerate(zip(mask, pattern, strict=True)))


def _html(data: bytes, tag: bytes) -> bool:
    if len(data) < len(tag) + 1:
        return False
    for i, b in enumerate(tag):
        db = data[i]
        if 0x41 <= b <= 0x5A:
            db &= 0xDF
        if b != db:
            return False
    return data[len(tag)] in b" >"


def _mp4(data: bytes) -> bool:
    if len(data) < 12:
        return False
    box_size = int.from_bytes(data[:4], "big")
    if len(data) < box_size or box_size % 4 != 0 or data[4:8] != b"ftyp":
        return False
    return any(st != 12 and data[st : st + 3] == b"mp4" for st in range(8, box_size, 4))


def detect_content_type(data: bytes) -> str:
    """Return Go's ``http.DetectContentType(data)`` (``application/octet-stream`` when nothing matches)."""
    data = data[:_SNIFF_LEN]
    first = 0
    while first < len(data) and data[first] in _WS:
        first += 1
    rest = data[first:]
    for tag in _HTML_TAGS:
        if _html(rest, tag):
            return _HTML
    for sig in _AFTER_HTML:
        if _masked(data, sig, first):
            return sig[3]
    if _mp4(data):
        return "video/mp4"
    for sig in _AFTER_MP4:
        if _masked(data, sig, first):
            return sig[3]
    if not any(b in _BINARY for b in rest):
        return _TEXT
    return "application/octet-stream"


def _allows_body(status: int) -> bool:
    return status >= 200 and status not in (204, 304)


class ContentType:
    """Sets a sniffed ``Content-Type`` on responses that have none."""

    __slots__ = ("name", "next")

    def __init__(self, next: Handler, name: str) -> None:
        self.next = next
        self.name = name

    async def __call__(self, req: Request) -> Response:
        response = await self.next(req)
        if req.method == "HEAD":
            return response  # no body is written, so Go has nothing to sniff
        headers = response.headers
        if "Content-Type" in headers or headers.get("Content-Encoding") or not _allows_body(response.status):
            return response
        body = response.body
        if isinstance(body, bytes):
            if body:
                headers.add("Content-Type", detect_content_type(body))
            return response
        try:
            first = await body.read_chunk()
        except BodyError:
            return response  # the failed body ends the response as it would have without this middleware
        if not first:
            return response  # empty body (already at its end): nothing to sniff, nothing to re-wrap
        headers.add("Content-Type", detect_content_type(first))
        response.body = relayed(body, (first,))  # the sniffed chunk, then the rest as it arrives
        return response


@register("contentType")
def content_type(next: Handler, config: ContentTypeConfig, *, name: str, ctx: BuildContext) -> Handler:
    """Return the ``contentType`` middleware, or ``next`` itself when the deprecated ``autoDetect`` is false."""
    if getattr(config, "auto_detect", None) is False:
        return next
    return ContentType(next, name)
