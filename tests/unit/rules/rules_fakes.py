"""A tiny request double for rule tests, built from a URL the way Traefik's matcher tests build theirs."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

_RESERVED = frozenset(["3A", "2F", "3F", "23", "5B", "5D", "40", "21", "24", "26", "27", "28", "29", "2A", "2B", "2C",
                       "3B", "3D", "25"])  # fmt: skip


def routing_path(escaped: str) -> str:
    """Decode percent-escapes except upper-case reserved ones (Traefik ``withRoutingPath``)."""
    out = bytearray()
    i = 0
    while i < len(escaped):
        if escaped[i] == "%" and escaped[i + 1 : i + 3] not in _RESERVED:
            out.append(int(escaped[i + 1 : i + 3], 16))
            i += 3
        elif escaped[i] == "%":
            out += escaped[i : i + 3].encode()
            i += 3
        else:
            out += escaped[i].encode()
            i += 1
    return out.decode("utf-8", "surrogateescape")


def canonical_host(authority: str) -> str:
    """Lower-case, drop the port, IPv6 brackets and one trailing dot (what the entrypoint gives the router)."""
    host = authority.lower()
    if host.startswith("["):
        host = host[1:].partition("]")[0]
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    return host[:-1] if host.endswith(".") else host


@dataclass
class FakeRequest:
    """Duck-typed :class:`hanzo_edge.rules.RuleRequest`."""

    method: str = "GET"
    host: str = "example.com"
    routing_path: str = "/"
    client_ip: str = "192.0.2.1"
    headers: dict[str, list[str]] = field(default_factory=dict)
    query: dict[str, list[str]] = field(default_factory=dict)

    def header_values(self, name: str) -> list[str]:
        out: list[str] = []
        for key, values in self.headers.items():
            if key.lower() == name.lower():
                out.extend(values)
        return out

    def query_params(self) -> dict[str, list[str]]:
        return self.query


def request(
    url: str = "http://example.com/",
    *,
    method: str = "GET",
    client_ip: str = "192.0.2.1",
    headers: dict[str, list[str]] | None = None,
) -> FakeRequest:
    """Build a :class:`FakeRequest` from an absolute URL (``http://host[:port]/path?query``)."""
    parts = urlsplit(url)
    return FakeRequest(
        method=method,
        host=canonical_host(parts.netloc),
        routing_path=routing_path(parts.path or "/"),
        client_ip=client_ip,
        headers=dict(headers or {}),
        query=parse_qs(parts.query, keep_blank_values=True),
    )
