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

from collections.abc import Awaitable

from hanzo_edge.config.middlewares import IPAllowList as IPAllowListConfig
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.http.status import status_text
from hanzo_edge.middlewares._source import ip_strategy
from hanzo_edge.middlewares.base import BuildContext, register
from hanzo_edge.rules.ipcheck import parse_ip_ranges

__all__ = ["IPAllowList"]

_CACHE_MAX = 4096


def _valid_status(code: int) -> bool:
    # Go's http.StatusText knows no 499 (that one is Traefik's own, for its access log only).
    return code != 499 and bool(status_text(code))


@register("ipWhiteList")
@register("ipAllowList")
class IPAllowList:
    """Rejects clients outside ``sourceRange``. Raises ValueError for an empty or unparsable range list,
    a bad ``ipStrategy`` or a ``rejectStatusCode`` Go has no status text for."""

    __slots__ = ("_allowed", "_reject_body", "client_ip", "name", "next", "ranges", "reject_status")

    def __init__(self, next: Handler, config: IPAllowListConfig, *, name: str, ctx: BuildContext) -> None:
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
        self.client_ip = ip_strategy(getattr(config, "ip_strategy", None))
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
        if self.is_allowed(self.client_ip(req)):
            return self.next(req)
        return self._reject()

    async def _reject(self) -> Response:
        return Response(self.reject_status, Headers(), self._reject_body)
