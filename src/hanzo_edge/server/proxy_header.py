"""PROXY protocol headers (HAProxy's spec, versions 1 and 2): recognise, parse and encode, on bytes only.

:func:`scan` looks at the first bytes of a connection and says one of three things: they are no PROXY header
(:attr:`Scan.ABSENT`, the connection is served as it is), they may still become one (:attr:`Scan.MORE`), or here is
the whole header and how many bytes it took (:class:`ProxyHeader`). Anything that starts like a header but breaks
the spec raises :class:`ProxyHeaderError`. The rules are go-proxyproto's, which Traefik uses: a first byte of
``\\r`` must continue with v2's 12-byte signature and ``P`` with ``PROXY``, else there is no header; a v1 line ends
with CRLF within 107 bytes; a v2 header's length must cover the addresses of its family; its TLVs are skipped.

:attr:`Scan.MORE` is only returned while every byte seen can still belong to the header, so a reader may consume
them: it never takes a byte past the header that way.
"""

from __future__ import annotations

import enum
import ipaddress
import struct
from dataclasses import dataclass

__all__ = [
    "V1_MAX_LENGTH",
    "V2_SIGNATURE",
    "ProxyHeader",
    "ProxyHeaderError",
    "Scan",
    "encode_v1",
    "encode_v2",
    "scan",
]

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
"""The 12 bytes every v2 header starts with."""
V1_MAX_LENGTH = 107
"""The longest v1 line, CRLF included (``PROXY TCP6`` with two full-length IPv6 addresses)."""

_V1_WORD = b"PROXY"
_V2_FIXED = 16  # signature, version/command, family/transport, 16-bit length
_V2_ADDRESS_LENGTHS = {1: 12, 2: 36, 3: 216}  # AF_INET, AF_INET6, AF_UNIX address blocks
_V2_LOCAL, _V2_PROXY = 0, 1
_V1_FAMILIES = {b"TCP4": ipaddress.IPv4Address, b"TCP6": ipaddress.IPv6Address}

Address = tuple[str, int]


class ProxyHeaderError(ValueError):
    """The bytes start like a PROXY header but are not a valid one."""


class Scan(enum.Enum):
    """What :func:`scan` says when it has no header to return."""

    ABSENT = "absent"
    """The connection does not start with a PROXY header."""
    MORE = "more"
    """Every byte so far may belong to a header; read more."""


@dataclass(frozen=True, slots=True)
class ProxyHeader:
    """One parsed header.

    ``source`` is the client address it carries, or None when it carries none that applies: v1 ``UNKNOWN``, v2
    ``LOCAL`` (a health check of the proxy itself), an unspecified or Unix family. ``length`` is its size on the wire.
    """

    version: int
    source: Address | None
    destination: Address | None
    length: int


def scan(data: bytes) -> ProxyHeader | Scan:
    """Return the header at the start of ``data``, or what is known so far; raise ProxyHeaderError when invalid."""
    if not data:
        return Scan.MORE
    first = data[0]
    if first == V2_SIGNATURE[0]:
        return _scan_v2(data)
    if first == _V1_WORD[0]:
        return _scan_v1(data)
    return Scan.ABSENT


def _prefix_verdict(data: bytes, expected: bytes) -> Scan | None:
    """ABSENT if ``data`` departs from ``expected``, MORE if it is a strict prefix of it, None once it is complete."""
    seen = data[: len(expected)]
    if not expected.startswith(seen):
        return Scan.ABSENT
    return Scan.MORE if len(seen) < len(expected) else None


def _scan_v1(data: bytes) -> ProxyHeader | Scan:
    verdict = _prefix_verdict(data, _V1_WORD)
    if verdict is not None:
        return verdict
    end = data.find(b"\n", 0, V1_MAX_LENGTH)
    if end < 0:
        if len(data) >= V1_MAX_LENGTH:
            raise ProxyHeaderError(f"v1 header without CRLF in its first {V1_MAX_LENGTH} bytes")
        return Scan.MORE
    if data[end - 1] != 0x0D:
        raise ProxyHeaderError("v1 header line does not end with CRLF")
    words = data[: end - 1].split(b" ")
    if words[0] != _V1_WORD or len(words) < 2:
        raise ProxyHeaderError("v1 header is not 'PROXY <family> ...'")
    length = end + 1
    family = words[1]
    if family == b"UNKNOWN":
        # The sender could not tell the client (the rest of the line is not read, as the spec says).
        return ProxyHeader(1, None, None, length)
    address_type = _V1_FAMILIES.get(family)
    if address_type is None:
        raise ProxyHeaderError(f"v1 header has an unknown family {family[:8]!r}")
    if len(words) != 6:
        raise ProxyHeaderError("v1 header needs source, destination, source port and destination port")
    try:
        source = str(address_type(words[2].decode("ascii")))
        destination = str(address_type(words[3].decode("ascii")))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProxyHeaderError(f"v1 header has an invalid {family.decode()} address") from exc
    return ProxyHeader(1, (source, _v1_port(words[4])), (destination, _v1_port(words[5])), length)


def _v1_port(word: bytes) -> int:
    if not (word.isdigit() and len(word) <= 5) or int(word) > 65535:
        raise ProxyHeaderError(f"v1 header has an invalid port {word[:8]!r}")
    return int(word)


def _scan_v2(data: bytes) -> ProxyHeader | Scan:
    verdict = _prefix_verdict(data, V2_SIGNATURE)
    if verdict is not None:
        return verdict
    if len(data) < _V2_FIXED:
        return Scan.MORE
    version, command = data[12] >> 4, data[12] & 0x0F
    if version != 2:
        raise ProxyHeaderError(f"v2 header has version {version}")
    if command not in (_V2_LOCAL, _V2_PROXY):
        raise ProxyHeaderError(f"v2 header has an unknown command {command}")
    family, transport = data[13] >> 4, data[13] & 0x0F
    if family > 3 or transport > 2:
        raise ProxyHeaderError(f"v2 header has an unknown address family/transport 0x{data[13]:02x}")
    (payload_length,) = struct.unpack_from("!H", data, 14)
    length = _V2_FIXED + payload_length
    if command == _V2_LOCAL:
        # The proxy speaks for itself: whatever follows is skipped, the socket address stands.
        return ProxyHeader(2, None, None, length) if len(data) >= length else Scan.MORE
    address_length = _V2_ADDRESS_LENGTHS.get(family, 0)
    if payload_length < address_length:
        raise ProxyHeaderError(f"v2 header length {payload_length} is shorter than its addresses ({address_length})")
    if len(data) < length:
        return Scan.MORE
    if family == 1:
        src, dst, sport, dport = struct.unpack_from("!4s4sHH", data, _V2_FIXED)
        return ProxyHeader(
            2, (str(ipaddress.IPv4Address(src)), sport), (str(ipaddress.IPv4Address(dst)), dport), length
        )
    if family == 2:
        src, dst, sport, dport = struct.unpack_from("!16s16sHH", data, _V2_FIXED)
        return ProxyHeader(
            2, (str(ipaddress.IPv6Address(src)), sport), (str(ipaddress.IPv6Address(dst)), dport), length
        )
    # AF_UNSPEC or AF_UNIX: no IP address to report; the socket's stands.
    return ProxyHeader(2, None, None, length)


def encode_v1(source: Address | None, destination: Address | None) -> bytes:
    """Return a v1 line for a TCP connection from ``source`` to ``destination`` (``UNKNOWN`` when either is None)."""
    if source is None or destination is None:
        return b"PROXY UNKNOWN\r\n"
    family = "TCP4" if ipaddress.ip_address(source[0]).version == 4 else "TCP6"
    return f"PROXY {family} {source[0]} {destination[0]} {source[1]} {destination[1]}\r\n".encode("ascii")


def encode_v2(source: Address | None, destination: Address | None, tlvs: bytes = b"") -> bytes:
    """Return a v2 header: PROXY over TCP from ``source`` to ``destination``, or LOCAL when either is None."""
    if source is None or destination is None:
        return V2_SIGNATURE + struct.pack("!BBH", 0x20, 0x00, len(tlvs)) + tlvs
    src, dst = ipaddress.ip_address(source[0]), ipaddress.ip_address(destination[0])
    family = 0x11 if src.version == 4 else 0x21
    addresses = src.packed + dst.packed + struct.pack("!HH", source[1], destination[1])
    return V2_SIGNATURE + struct.pack("!BBH", 0x21, family, len(addresses) + len(tlvs)) + addresses + tlvs
