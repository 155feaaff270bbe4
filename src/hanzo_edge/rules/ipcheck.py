"""IP / CIDR sets for the ``ClientIP`` matcher, with Traefik's ``ip.Checker`` semantics.

Rule side (``netip.ParseAddr`` then ``netip.ParsePrefix``): an address (an IPv6 zone is accepted and ignored) or a
prefix (host bits may be set; they are masked). Request side: the socket peer address; IPv4-mapped IPv6 addresses
compare as IPv4 and zones are ignored; an unparsable address matches nothing. Parsed peers are cached.
"""

from __future__ import annotations

import functools
import ipaddress
import re

from hanzo_edge.rules.errors import go_quote

__all__ = ["IPRanges", "parse_ip_ranges", "peer_key"]

_BITS = re.compile(r"0|[1-9][0-9]{0,2}")
_MAPPED_PREFIX = 96

_Range = tuple[int, int, int]  # (version, first, last) as integers


class IPRanges:
    """A set of address ranges; :meth:`contains` tests a peer address string."""

    __slots__ = ("ranges",)

    def __init__(self, ranges: tuple[_Range, ...]) -> None:
        self.ranges = ranges

    def contains(self, address: str) -> bool:
        """Return True when ``address`` parses as an IP inside one of the ranges (False if it does not parse)."""
        key = peer_key(address)
        if key is None:
            return False
        version, value = key
        for range_version, first, last in self.ranges:  # noqa: SIM110 (per request: a loop beats any(genexpr))
            if range_version == version and first <= value <= last:
                return True
        return False


def _unmapped(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> tuple[int, int]:
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped
        if mapped is not None:
            return 4, int(mapped)
        return 6, int(address)
    return 4, int(address)


def _parse_range(spec: str) -> _Range:
    """Parse one ``ClientIP`` value; raise ValueError with a Go-like reason."""
    try:
        version, value = _unmapped(ipaddress.ip_address(spec))
        return version, value, value
    except ValueError:
        pass
    address_text, slash, bits_text = spec.rpartition("/")
    if not slash:
        raise ValueError(f"netip.ParsePrefix({go_quote(spec)}): no '/'")
    if "%" in address_text:
        raise ValueError(f"netip.ParsePrefix({go_quote(spec)}): IPv6 zones cannot be present in a prefix")
    try:
        address = ipaddress.ip_address(address_text)
    except ValueError:
        raise ValueError(
            f"netip.ParsePrefix({go_quote(spec)}): ParseAddr({go_quote(address_text)}): unable to parse IP"
        ) from None
    if not _BITS.fullmatch(bits_text):
        raise ValueError(f"netip.ParsePrefix({go_quote(spec)}): bad bits after slash: {go_quote(bits_text)}")
    bits = int(bits_text)
    if bits > address.max_prefixlen:
        raise ValueError(f"netip.ParsePrefix({go_quote(spec)}): prefix length out of range")
    host_bits = address.max_prefixlen - bits
    first = (int(address) >> host_bits) << host_bits
    last = first | ((1 << host_bits) - 1)
    if address.version == 6 and bits >= _MAPPED_PREFIX and (first >> 32) == 0xFFFF:
        return 4, first & 0xFFFFFFFF, last & 0xFFFFFFFF
    return address.version, first, last


def parse_ip_ranges(specs: tuple[str, ...]) -> IPRanges:
    """Return the :class:`IPRanges` for ``specs`` (addresses or CIDR prefixes).

    Raises ValueError naming the first bad value, as Traefik's checker does:
    ``parsing CIDR trusted IPs 1: netip.ParsePrefix("1"): no '/'``.
    """
    ranges = []
    for spec in specs:
        try:
            ranges.append(_parse_range(spec))
        except ValueError as exc:
            raise ValueError(f"parsing CIDR trusted IPs {spec}: {exc}") from None
    return IPRanges(tuple(ranges))


@functools.lru_cache(maxsize=4096)
def peer_key(address: str) -> tuple[int, int] | None:
    """Return ``(version, integer)`` for a peer address (IPv4-mapped → IPv4, zone ignored), or None if unparsable.

    Also accepts ``[v6]``, ``[v6]:port`` and ``v4:port`` forms, in case the caller passes a socket address.
    """
    text = address.partition("%")[0] if "%" in address else address
    try:
        return _unmapped(ipaddress.ip_address(text))
    except ValueError:
        pass
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    else:
        return None
    try:
        return _unmapped(ipaddress.ip_address(text.partition("%")[0]))
    except ValueError:
        return None
