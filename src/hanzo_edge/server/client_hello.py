"""Read the server name (SNI) from the first bytes of a TLS connection, before OpenSSL sees them.

The TLS options of a connection (versions, ciphers, client authentication) depend on the host it is for, and
OpenSSL fixes them before its SNI callback runs; so the entrypoint reads the ClientHello itself, picks the context,
and only then starts the handshake with the same bytes. The ClientHello may span several records (RFC 8446 §5.1);
anything malformed is :data:`INVALID` and the connection is closed without a word.
"""

from __future__ import annotations

from typing import Final

__all__ = ["INVALID", "MAX_HELLO_BYTES", "NEED_MORE", "ClientHello", "looks_like_tls", "parse_client_hello"]

NEED_MORE: Final = "need-more"
INVALID: Final = "invalid"
MAX_HELLO_BYTES = 65536
"""A ClientHello longer than this (records included) is refused: real ones are a few hundred bytes to ~2 KiB."""

_HANDSHAKE = 0x16
_CLIENT_HELLO = 0x01
_SERVER_NAME = 0x0000
_ALPN = 0x0010


class ClientHello:
    """What the entrypoint needs from a ClientHello: the server name ("" when the client sent none) and the ALPN
    protocols it offers (TCP routers' ``ALPN`` rules read them)."""

    __slots__ = ("alpn", "server_name")

    def __init__(self, server_name: str, alpn: tuple[str, ...] = ()) -> None:
        self.server_name = server_name
        self.alpn = alpn

    def __repr__(self) -> str:
        return f"ClientHello(server_name={self.server_name!r}, alpn={self.alpn!r})"


def looks_like_tls(first: int) -> bool:
    """True when a connection's first byte starts a TLS handshake record (Traefik peeks at the same byte)."""
    return first == _HANDSHAKE


def _handshake_bytes(data: bytes) -> bytes | str:
    """Concatenate the handshake records' payloads until the first handshake message is complete."""
    payload = bytearray()
    pos = 0
    while True:
        if len(payload) >= 4:
            needed = 4 + int.from_bytes(payload[1:4], "big")
            if needed > MAX_HELLO_BYTES:
                return INVALID
            if len(payload) >= needed:
                return bytes(payload[:needed])
        if len(data) - pos < 5:
            return NEED_MORE
        if data[pos] != _HANDSHAKE or data[pos + 1] != 0x03:
            return INVALID
        length = int.from_bytes(data[pos + 3 : pos + 5], "big")
        if length == 0 or length > 16384 + 2048:
            return INVALID
        if len(data) - pos - 5 < length:
            return NEED_MORE
        payload += data[pos + 5 : pos + 5 + length]
        pos += 5 + length


def parse_client_hello(data: bytes) -> ClientHello | str:
    """Return the :class:`ClientHello` at the start of ``data``, :data:`NEED_MORE`, or :data:`INVALID`."""
    if len(data) > MAX_HELLO_BYTES + 1024:
        return INVALID
    message = _handshake_bytes(data)
    if isinstance(message, str):
        return message
    if message[0] != _CLIENT_HELLO:
        return INVALID
    try:
        return ClientHello(*_server_name_and_alpn(memoryview(message)[4:]))
    except (IndexError, ValueError):
        return INVALID


def _take(body: memoryview, pos: int, size_bytes: int) -> tuple[memoryview, int]:
    """Return the length-prefixed field at ``pos`` and the position after it; IndexError when it overruns."""
    end = pos + size_bytes
    if end > len(body):
        raise IndexError("truncated length")
    length = int.from_bytes(body[pos:end], "big")
    if end + length > len(body):
        raise IndexError("truncated field")
    return body[end : end + length], end + length


def _alpn_protocols(data: memoryview) -> tuple[str, ...]:
    protocols, _ = _take(data, 0, 2)
    found: list[str] = []
    pos = 0
    while pos < len(protocols):
        name, pos = _take(protocols, pos, 1)
        found.append(bytes(name).decode("latin-1"))
    return tuple(found)


def _sni(data: memoryview) -> str:
    names, _ = _take(data, 0, 2)
    name_pos = 0
    while name_pos + 3 <= len(names):
        name_type = names[name_pos]
        name, name_pos = _take(names, name_pos + 1, 2)
        if name_type == 0:
            # Traefik's types.CanonicalDomain (ConnData, certificate lookup): lower-case, trailing dot trimmed.
            return bytes(name).decode("ascii").lower().removesuffix(".")
    return ""


def _server_name_and_alpn(body: memoryview) -> tuple[str, tuple[str, ...]]:
    pos = 2 + 32  # legacy_version, random
    _, pos = _take(body, pos, 1)  # legacy_session_id
    suites, pos = _take(body, pos, 2)
    if not suites or len(suites) % 2:
        raise ValueError("bad cipher suites")
    compression, pos = _take(body, pos, 1)
    if not compression:
        raise ValueError("no compression method")
    if pos == len(body):
        return "", ()  # no extensions at all (TLS 1.0-style hello)
    extensions, pos = _take(body, pos, 2)
    if pos != len(body):
        raise ValueError("bytes after the extensions")
    server_name = ""
    alpn: tuple[str, ...] = ()
    ext_pos = 0
    while ext_pos < len(extensions):
        if ext_pos + 4 > len(extensions):
            raise ValueError("truncated extension")
        ext_type = int.from_bytes(extensions[ext_pos : ext_pos + 2], "big")
        data, ext_pos = _take(extensions, ext_pos + 2, 2)
        if ext_type == _SERVER_NAME:
            server_name = _sni(data)
        elif ext_type == _ALPN:
            alpn = _alpn_protocols(data)
    return server_name, alpn
