"""``ipAllowList`` (and the deprecated ``ipWhiteList``): only let listed client IPs through (Traefik ``ipallowlist``).

The client IP comes from the ``ipStrategy`` (Traefik ``pkg/ip/strategy.go``):

* no strategy: the socket peer address (``req.client_ip``, after PROXY protocol), never ``X-Forwarded-For``;
* ``depth: N`` (N > 0): the N-th entry of the first ``X-Forwarded-For`` header counted from the right
  (``""`` when the header is shorter); ``excludedIPs`` is then ignored;
* ``excludedIPs``: scanning ``X-Forwarded-For`` right to left, the first entry not in the excluded set
  (``""`` when every entry is excluded);
* ``ipv6Subnet: N`` (depth and peer-address strategies): an IPv6 client is replaced by the first address of its /N.

A client whose IP is not in ``sourceRange`` (or is empty / unparsable) gets ``rejectStatusCode`` (403 by default)
with Go's status text as the whole body and no ``Content-Type`` (Traefik disables content sniffing).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable
from typing import Any

from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.http.status import status_text
from hanzo_edge.middlewares.base import BuildContext, register
from hanzo_edge.rules.ipcheck import IPRanges, parse_ip_ranges

__all__ = ["ClientIPStrategy", "IPAllowList"]

_CACHE_MAX = 4096


def _valid_status(code: int) -> bool:
    # Go's http.StatusText knows no 499 (that one is Traefik's own, for its access log only).
    return code != 499 and bool(status_text(code))


def _subnet_ip(ip: str, bits: int) -> str:
    """Return the first address of the /``bits`` subnet of an IPv6 ``ip``; other input is returned unchanged."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if not isinstance(addr, ipaddress.IPv6Address):
        return ip
    host_bits = 128 - bits
    return str(ipaddress.IPv6Address((int(addr) >> host_bits) << host_bits))


class ClientIPStrategy:
    """Traefik's ``ipStrategy``: :meth:`client_ip` returns the IP string a request is judged by."""

    __slots__ = ("_excluded", "_subnet_cache", "depth", "ipv6_subnet")

    def __init__(self, strategy: Any) -> None:
        """Build from an ``IPStrategy`` model (or None). Raises ValueError for a bad ``ipv6Subnet`` or excluded IP."""
        self.depth = 0
        self.ipv6_subnet: int | None = None
        self._excluded: IPRanges | None = None
        self._subnet_cache: dict[str, str] = {}
        if strategy is None:
            return
        depth = int(getattr(strategy, "depth", 0) or 0)
        excluded = tuple(getattr(strategy, "excluded_ips", ()) or ())
        subnet = getattr(strategy, "ipv6_subnet", None)
        if depth > 0 or not excluded:
            if subnet is not None and not 0 < subnet <= 128:
                raise ValueError(
                    f"invalid IPv6 subnet {subnet} value, should be greater to 0 and lower or equal to 128"
                )
            self.depth = depth
            self.ipv6_subnet = subnet
        else:
            self._excluded = parse_ip_ranges(excluded)

    def client_ip(self, req: Request) -> str:
        """Return the client IP of ``req`` under this strategy (``""`` when none can be selected)."""
        excluded = self._excluded
        if excluded is not None:
            entries = (req.headers.get("X-Forwarded-For") or "").split(",")
            for entry in reversed(entries):
                candidate = entry.strip()
                if candidate and not excluded.contains(candidate):
                    return candidate
            return ""
        if self.depth > 0:
            entries = (req.headers.get("X-Forwarded-For") or "").split(",")
            if len(entries) < self.depth:
                return ""
            ip = entries[len(entries) - self.depth].strip()
        else:
            ip = req.client_ip
        bits = self.ipv6_subnet
        if bits is None or ":" not in ip:
            return ip
        masked = self._subnet_cache.get(ip)
        if masked is None:
            masked = _subnet_ip(ip, bits)
            if len(self._subnet_cache) >= _CACHE_MAX:
                self._subnet_cache.clear()
            self._subnet_cache[ip] = masked
        return masked


@register("ipWhiteList")
@register("ipAllowList")
class IPAllowList:
    """Rejects clients outside ``sourceRange``. Raises ValueError for an empty or unparsable range list,
    a bad ``ipStrategy`` or a ``rejectStatusCode`` Go has no status text for."""

    __slots__ = ("_allowed", "_reject_body", "name", "next", "ranges", "reject_status", "strategy")

    def __init__(self, next: Handler, config: Any, *, name: str, ctx: BuildContext) -> None:
        source_range = tuple(getattr(config, "source_range", ()) or ())
        if not source_range:
            raise ValueError("sourceRange is empty, IPAllowLister not created")
        status = int(getattr(config, "reject_status_code", 0) or 0)
        if status == 0:
            status = 403
        elif not _valid_status(status):
            raise ValueError(f"invalid HTTP status code {status}")
        try:
            self.ranges = parse_ip_ranges(source_range)
        except ValueError as exc:
            raise ValueError(f"cannot parse CIDRs [{' '.join(source_range)}]: {exc}") from None
        self.strategy = ClientIPStrategy(getattr(config, "ip_strategy", None))
        self.next = next
        self.name = name
        self.reject_status = status
        self._reject_body = status_text(status).encode("latin-1")
        self._allowed: dict[str, bool] = {}

    def is_allowed(self, ip: str) -> bool:
        """Return True when ``ip`` (an address, or ``host:port``) is inside ``sourceRange``."""
        allowed = self._allowed.get(ip)
        if allowed is None:
            allowed = bool(ip) and self.ranges.contains(ip)
            if len(self._allowed) >= _CACHE_MAX:
                self._allowed.clear()
            self._allowed[ip] = allowed
        return allowed

    def __call__(self, req: Request) -> Awaitable[Response]:
        if self.is_allowed(self.strategy.client_ip(req)):
            return self.next(req)
        return self._reject()

    async def _reject(self) -> Response:
        return Response(self.reject_status, Headers(), self._reject_body)
