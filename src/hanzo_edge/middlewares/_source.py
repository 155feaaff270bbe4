"""Who is asking: Traefik's ``ipStrategy`` (``pkg/ip/strategy.go``) and ``sourceCriterion`` (``GetSourceExtractor``).

Shared by the middlewares that group or filter requests by their source (``rateLimit``, ``inFlightReq``,
``ipAllowList``). Everything is decided when the middleware is built; the returned callables only read the request.

IP strategies (``ip_strategy``):

* none, or neither ``depth`` nor ``excludedIPs``: the socket address (``req.client_ip``, never ``X-Forwarded-For``);
* ``depth > 0``: the ``depth``-th address of the first ``X-Forwarded-For`` header counted from the right (``1`` is
  the right-most); ``""`` when the header has fewer entries. ``excludedIPs`` is then ignored;
* ``excludedIPs``: scanning ``X-Forwarded-For`` right to left, the first entry that is not in the list (IPs or
  CIDRs, checked as the ``ClientIP`` matcher does: IPv4-mapped addresses compare as IPv4, zones are ignored, an
  unparsable entry is never excluded); ``""`` when every entry is excluded;
* ``ipv6Subnet`` (with the socket-address and depth strategies) maps an IPv6 address to the first address of its
  ``/N`` subnet (``::abcd:1111:2222:3333`` with ``64`` → ``::``); IPv4 and IPv4-mapped addresses are left alone.

Source criteria (``source_extractor``): exactly one of ``ipStrategy``, ``requestHeaderName`` (the header's first
value, ``""`` when absent) or ``requestHost`` (the canonical request host); none given means the middleware's
default. Two given is a configuration error, with Traefik's messages.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from hanzo_edge.http.messages import Request
from hanzo_edge.rules.ipcheck import IPRanges, parse_ip_ranges

__all__ = ["SourceExtractor", "ip_strategy", "ipv6_subnet_ip", "source_extractor"]

SourceExtractor = Callable[[Request], str]
"""Returns the source of a request (an IP, a header value or a host; may be ``""``)."""


@lru_cache(maxsize=4096)
def ipv6_subnet_ip(ip: str, bits: int) -> str:
    """Return the first address of the ``/bits`` subnet of IPv6 ``ip``; any other input is returned unchanged."""
    if "%" in ip:
        return ip  # Go's ParseCIDR rejects zones: Traefik keeps the address as it is
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv4Address) or address.ipv4_mapped is not None:
        return ip
    return str(ipaddress.IPv6Network((address, bits), strict=False).network_address)


def _check_subnet(subnet: Any) -> int | None:
    if subnet is None:
        return None
    if isinstance(subnet, bool) or not isinstance(subnet, int) or not 0 < subnet <= 128:
        raise ValueError(f"invalid IPv6 subnet {subnet} value, should be greater to 0 and lower or equal to 128")
    return subnet


def ip_strategy(strategy: Any | None) -> SourceExtractor:
    """Return the client-IP function of an ``ipStrategy`` model (None: the socket address).

    Raises ValueError for an invalid ``excludedIPs`` entry or an ``ipv6Subnet`` outside 1..128.
    """
    if strategy is None:
        return _remote_addr
    depth = int(getattr(strategy, "depth", 0) or 0)
    excluded = tuple(getattr(strategy, "excluded_ips", ()) or ())
    subnet = _check_subnet(getattr(strategy, "ipv6_subnet", None))
    if depth > 0:
        return _depth_strategy(depth, subnet)
    if excluded:
        return _pool_strategy(parse_ip_ranges(excluded))
    if subnet is not None:
        bits = subnet

        def remote_subnet(req: Request) -> str:
            return ipv6_subnet_ip(req.client_ip, bits)

        return remote_subnet
    return _remote_addr


def _remote_addr(req: Request) -> str:
    return req.client_ip


def _depth_strategy(depth: int, subnet: int | None) -> SourceExtractor:
    def by_depth(req: Request) -> str:
        xffs = (req.headers.get("X-Forwarded-For") or "").split(",")
        if len(xffs) < depth:
            return ""
        ip = xffs[len(xffs) - depth].strip()
        return ipv6_subnet_ip(ip, subnet) if subnet is not None else ip

    return by_depth


def _pool_strategy(checker: IPRanges) -> SourceExtractor:
    def first_not_excluded(req: Request) -> str:
        xffs = (req.headers.get("X-Forwarded-For") or "").split(",")
        for item in reversed(xffs):
            ip = item.strip()
            if ip and not checker.contains(ip):
                return ip
        return ""

    return first_not_excluded


def _request_host(req: Request) -> str:
    return req.host


def source_extractor(criterion: Any | None, default: str = "ip") -> SourceExtractor:
    """Return the source function of a ``sourceCriterion`` model; ``default`` ("ip" or "host") applies when empty.

    Raises ValueError when two criteria are set (Traefik's wording) or the IP strategy is invalid.
    """
    strategy = getattr(criterion, "ip_strategy", None) if criterion is not None else None
    header = str(getattr(criterion, "request_header_name", "") or "") if criterion is not None else ""
    host = bool(getattr(criterion, "request_host", False)) if criterion is not None else False
    if strategy is not None and header:
        raise ValueError("iPStrategy and RequestHeaderName are mutually exclusive")
    if strategy is not None and host:
        raise ValueError("iPStrategy and RequestHost are mutually exclusive")
    if header and host:
        raise ValueError("requestHost and RequestHeaderName are mutually exclusive")
    if strategy is not None:
        return ip_strategy(strategy)
    if header:

        def by_header(req: Request) -> str:
            return req.headers.get(header) or ""

        return by_header
    if host or default == "host":
        return _request_host
    return _remote_addr
