"""The entrypoint's ``X-Forwarded-*`` trust boundary (Traefik's ``forwardedheaders.XForwarded``).

Unless the entrypoint is ``insecure`` or the peer is in ``trustedIPs``, every managed header the client sent is
deleted before routing, so no rule, middleware or backend ever sees a forged value. Then the missing ones are set:
``X-Forwarded-Proto``, ``-Host``, ``-Port``, ``-Server`` and ``X-Real-Ip``. ``X-Forwarded-For`` gets the client IP
appended by the proxy when it forwards.

The ``Connection`` header is applied here too (Traefik's ``removeConnectionHeaders``): the headers it names are
removed before routing, except the managed ones, the upgrade pair of a real upgrade, and the names listed in
``forwardedHeaders.connection``, which stay visible to routers and middlewares and are named in a rebuilt
``Connection`` header so the proxy removes them before the backend.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Final

from hanzo_edge.http.headers import Headers

__all__ = ["MANAGED_HEADERS", "ForwardedHeaders", "remove_connection_headers"]

_MANAGED = (
    b"x-forwarded-proto",
    b"x-forwarded-for",
    b"x-forwarded-host",
    b"x-forwarded-port",
    b"x-forwarded-server",
    b"x-forwarded-uri",
    b"x-forwarded-method",
    b"x-forwarded-prefix",
    b"x-forwarded-tls-client-cert",
    b"x-forwarded-tls-client-cert-info",
    b"x-real-ip",
)
MANAGED_HEADERS = frozenset(_MANAGED) | frozenset(h.replace(b"-", b"_") for h in _MANAGED)
"""Lower-case names of the headers the entrypoint owns (with their underscore spellings)."""

_IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class ForwardedHeaders:
    """Strips untrusted ``X-Forwarded-*`` headers and sets the missing ones, per entrypoint."""

    __slots__ = ("_cache", "_networks", "connection_headers", "insecure", "server")

    def __init__(
        self,
        insecure: bool = False,
        trusted_ips: tuple[str, ...] = (),
        server: str | None = None,
        connection: tuple[str, ...] = (),
    ) -> None:
        self.insecure = insecure
        # forwardedHeaders.connection: lower-case names that survive the entrypoint's Connection handling.
        self.connection_headers = frozenset(name.strip().lower().encode("latin-1") for name in connection if name)
        networks: list[_IPNetwork] = []
        for item in trusted_ips:
            try:
                networks.append(ipaddress.ip_network(item.strip(), strict=False))
            except ValueError as exc:
                raise ValueError(f"invalid trusted IP {item!r}: {exc}") from exc
        self._networks = tuple(networks)
        self._cache: dict[str, bool] = {}
        self.server = (server if server is not None else socket.gethostname()).encode("latin-1")

    def is_trusted(self, ip: str) -> bool:
        """Return True when ``ip`` may set ``X-Forwarded-*`` headers."""
        if self.insecure:
            return True
        if not self._networks:
            return False
        trusted = self._cache.get(ip)
        if trusted is None:
            try:
                addr = ipaddress.ip_address(ip.split("%", 1)[0])
            except ValueError:
                trusted = False
            else:
                trusted = any(addr in net for net in self._networks)
            if len(self._cache) > 4096:
                self._cache.clear()
            self._cache[ip] = trusted
        return trusted

    def apply(
        self,
        headers: Headers,
        present: bool,
        client_ip: bytes,
        host: bytes,
        tls: bool,
        websocket: bool,
    ) -> None:
        """Sanitise and complete ``headers`` in place.

        ``present`` says whether the client sent any managed header (found while parsing, so the common case does
        no scan); ``host`` is the raw ``Host`` value.
        """
        raw = headers.raw
        proto = port = fwd_host = server = real_ip = None
        if present:
            if not self.is_trusted(client_ip.decode("latin-1")):
                headers.raw = raw = [pair for pair in raw if pair[0].lower() not in MANAGED_HEADERS]
            else:
                for name, value in raw:
                    lname = name.lower()
                    if lname == b"x-forwarded-proto":
                        proto = value
                    elif lname == b"x-forwarded-port":
                        port = value
                    elif lname == b"x-forwarded-host":
                        fwd_host = value
                    elif lname == b"x-forwarded-server":
                        server = value
                    elif lname == b"x-real-ip":
                        real_ip = value
        if proto is None:
            proto = (b"wss" if tls else b"ws") if websocket else (b"https" if tls else b"http")
            raw.append((b"X-Forwarded-Proto", proto))
        if fwd_host is None and host:
            raw.append((b"X-Forwarded-Host", host))
        if port is None:
            raw.append((b"X-Forwarded-Port", _forwarded_port(host, proto, tls)))
        if server is None:
            raw.append((b"X-Forwarded-Server", self.server))
        if real_ip is None:
            raw.append((b"X-Real-Ip", client_ip))


_HOST_PORTS: Final[dict[bytes, bytes]] = {}
"""Raw ``Host`` value → its port, for the hosts that name one: the split is made once per distinct host, not per
request. Hosts come from clients: bounded, cleared when full."""


def _forwarded_port(host: bytes, proto: bytes, tls: bool) -> bytes:
    # Traefik's forwardedPort: the Host header's port, else 443 for https/wss or TLS, else 80.
    if host:
        known = _HOST_PORTS.get(host)
        if known is not None:
            return known
        if not host.endswith(b"]"):
            _, sep, port = host.rpartition(b":")
            if sep and port.isdigit():
                if len(_HOST_PORTS) >= 4096:
                    _HOST_PORTS.clear()
                _HOST_PORTS[host] = port
                return port
    if proto in (b"https", b"wss") or tls:
        return b"443"
    return b"80"


def remove_connection_headers(
    raw: list[tuple[bytes, bytes]], upgrade_header: bool, kept: frozenset[bytes]
) -> tuple[list[tuple[bytes, bytes]], bool]:
    """Apply the request's ``Connection`` header(s) at the entrypoint; return the new fields and whether it upgrades.

    A request upgrades only when it has an ``Upgrade`` header (``upgrade_header``) and ``Connection`` lists
    ``upgrade`` (Go's ``upgradeType``). Every named header is removed except the managed ``X-Forwarded-*`` ones
    (a client cannot make the proxy drop them) and the ``kept`` names (``forwardedHeaders.connection``); those and
    the upgrade are named in a rebuilt ``Connection`` header, as Traefik's ``removeConnectionHeaders`` does, so the
    proxy's hop-by-hop removal drops them before the backend.
    """
    tokens: list[bytes] = []
    for name, value in raw:
        if len(name) == 10 and name.lower() == b"connection":
            tokens += (token.strip() for token in value.split(b","))
    named = {token.lower() for token in tokens if token}
    upgrade = upgrade_header and b"upgrade" in named
    survivors: list[bytes] = []
    if kept:
        seen: set[bytes] = set()
        for token in tokens:
            lower = token.lower()
            if lower in kept and lower not in MANAGED_HEADERS and lower != b"upgrade" and lower not in seen:
                seen.add(lower)
                survivors.append(token)
        named -= kept
    named -= MANAGED_HEADERS
    named.add(b"connection")
    if upgrade:
        named.discard(b"upgrade")
        survivors.append(b"Upgrade")
    out = [pair for pair in raw if pair[0].lower() not in named]
    if survivors:
        out.append((b"Connection", b",".join(survivors)))
    return out, upgrade
