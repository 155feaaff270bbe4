"""What Go's ``httputil.ReverseProxy`` sends that our entrypoint would not: the forwarded headers.

The gateway and sidecar entrypoints trust the client's ``X-Forwarded-*`` (``forwardedHeaders.insecure``, as gin and
Go's servers do) and, as Traefik's, append ``X-Forwarded-Proto/-Host/-Port/-Server`` and ``X-Real-Ip`` when the
client sent none. Hanzo's host proxies are Go ReverseProxies, which add none of those (the host table appends only
``X-Forwarded-For``; the sidecar sets ``X-Forwarded-Host`` and ``X-Real-IP`` itself), so they drop them first.
"""

from __future__ import annotations

import socket

from hanzo_edge.http.messages import Request

__all__ = ["drop_entrypoint_forwarded"]

# What the entrypoint appends after the client's headers when the client sent none of them (Traefik's forwarded
# headers, in this order). Go's ReverseProxy adds none of them, only X-Forwarded-For.
_ENTRYPOINT_FORWARDED = (
    b"X-Forwarded-Proto",
    b"X-Forwarded-Host",
    b"X-Forwarded-Port",
    b"X-Forwarded-Server",
    b"X-Real-Ip",
)
_SERVER_NAME = socket.gethostname().encode("latin-1", "replace")


def drop_entrypoint_forwarded(req: Request) -> None:
    """Remove the forwarded headers the entrypoint appended, keeping any the client sent (Go's semantics).

    The gateway entrypoint trusts the client's X-Forwarded-* (``forwardedHeaders.insecure``), so it appends one of
    these names only when the client sent none: an appended one is in the block at the very end, in the order
    above, the only field of its name, with the value the entrypoint computes.
    """
    raw = req.headers.raw
    end = len(raw)
    for name in reversed(_ENTRYPOINT_FORWARDED):
        if not end:
            break
        last_name, value = raw[end - 1]
        if last_name != name or not _appended_value(name, value, req):
            continue
        lname = name.lower()
        if any(n.lower() == lname for n, _ in raw[: end - 1]):
            continue  # the client sent this name: the entrypoint kept the client's and appended nothing
        end -= 1
    if end != len(raw):
        req.headers.raw = raw[:end]


def _appended_value(name: bytes, value: bytes, req: Request) -> bool:
    # The value the entrypoint computes (http/forwarded.py), so a client's own field left last is never taken for
    # an appended one.
    if name == b"X-Forwarded-Proto":
        return value == _proto(req)
    if name == b"X-Forwarded-Port":
        return value == _port(req)
    if name == b"X-Forwarded-Server":
        return value == _SERVER_NAME
    if name == b"X-Real-Ip":
        return value == req.client_ip.encode("latin-1", "replace")
    return value == (req.headers.get_raw(b"host") or b"")  # X-Forwarded-Host: the Host header as received


def _proto(req: Request) -> bytes:
    websocket = req.upgrade and b"websocket" in (req.headers.get_raw(b"upgrade") or b"").lower()
    if websocket:
        return b"wss" if req.tls else b"ws"
    return b"https" if req.tls else b"http"


def _port(req: Request) -> bytes:
    # Traefik's forwardedPort over the final X-Forwarded-Proto (the client's when it sent one).
    host = req.headers.get_raw(b"host") or b""
    if host and not host.endswith(b"]"):
        _, sep, port = host.rpartition(b":")
        if sep and port.isdigit():
            return port
    proto = b""
    for name, value in req.headers.raw:
        if name.lower() == b"x-forwarded-proto":
            proto = value
    return b"443" if proto in (b"https", b"wss") or req.tls else b"80"
