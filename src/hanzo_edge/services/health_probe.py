"""The real health-check probe: one HTTP/1.1 request over a fresh asyncio connection, no dependencies.

``await http_probe(url, method, headers, timeout, follow_redirects)`` returns the status of the (final) response.
It sends ``Connection: close``, reads only the status line and headers (never the body), skips ``1xx`` interim
responses, and follows up to 10 redirects like Go's ``http.Client`` (301/302/303 turn the method into GET, 307/308
keep it; a ``Host`` override is not carried to the redirect target). Connection errors raise :class:`OSError`
subclasses; the whole exchange is bounded by ``timeout`` (``TimeoutError``); an unparsable answer raises
:class:`ProbeError`.

Traefik's health checker sends its probes through the service's own transport, so ``https`` servers are checked
with the serversTransport's TLS (``rootCAs``, ``insecureSkipVerify``, ``serverName``, ``certificates``,
``peerCertURI``): :func:`transport_probe` builds such a probe from the very client context the proxy's pools use
(``http.upstream_tls.client_context``, cached per transport), so a server is UP exactly when the proxy could reach it.
A failed handshake raises :class:`ProbeError` with Go's words for it, as the proxy logs them.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping
from urllib.parse import urljoin, urlsplit

from hanzo_edge.http.pool import TransportOptions
from hanzo_edge.http.upstream_tls import TLSConfigError, client_context, peer_cert_uri_error, verify_error_text

__all__ = ["ProbeError", "http_probe", "make_http_probe", "transport_probe"]

_MAX_REDIRECTS = 10
_MAX_HEAD = 64 * 1024
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class ProbeError(Exception):
    """The server's answer was not a valid HTTP/1.x response head (or redirected too often)."""


class _HttpProbe:
    """A probe bound to the TLS of ``https`` URLs: a context (the default context when None), or a servers
    transport whose cached client context, ``serverName`` and ``peerCertURI`` apply as in the proxy's pools."""

    __slots__ = ("_ssl", "_transport")

    def __init__(self, ssl_context: ssl.SSLContext | None, transport: TransportOptions | None = None) -> None:
        self._ssl = ssl_context
        self._transport = transport

    # The Probe contract passes the timeout as an argument (ASYNC109); it is enforced with asyncio.timeout below.
    async def __call__(
        self,
        url: str,
        method: str,
        headers: Mapping[str, str],
        timeout: float,  # noqa: ASYNC109
        follow_redirects: bool = True,
    ) -> int:
        async with asyncio.timeout(timeout if timeout > 0 else None):
            for _ in range(_MAX_REDIRECTS + 1):
                status, location = await self._once(url, method, headers)
                if not follow_redirects or status not in _REDIRECTS or not location:
                    return status
                url = urljoin(url, location)
                if status in (301, 302, 303) and method != "HEAD":
                    method = "GET"
                headers = {k: v for k, v in headers.items() if k.lower() != "host"}
        raise ProbeError(f"stopped after {_MAX_REDIRECTS} redirects")

    async def _once(self, url: str, method: str, headers: Mapping[str, str]) -> tuple[int, str]:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https", "h2c"):
            raise ProbeError(f"unsupported scheme {scheme!r}")
        host = parts.hostname
        if not host:
            raise ProbeError(f"no host in {url!r}")
        tls = scheme == "https"
        port = parts.port or (443 if tls else 80)
        context = self._context() if tls else None
        server_name = (self._transport.server_name if self._transport is not None else "") or host
        try:
            reader, writer = await asyncio.open_connection(
                host, port, ssl=context, server_hostname=server_name if tls else None
            )
        except ssl.SSLError as exc:
            raise ProbeError(verify_error_text(exc, server_name)) from exc
        try:
            if tls:
                self._check_peer_cert_uri(writer)
            writer.write(
                _request_head(method, parts.path or "/", parts.query, parts.netloc.rpartition("@")[2], headers)
            )
            await writer.drain()
            return await _read_head(reader)
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except (OSError, ssl.SSLError):
                pass

    def _context(self) -> ssl.SSLContext:
        if self._transport is not None:
            try:
                # Built lazily: a service of plain-http servers never loads roots. Cached per transport options.
                return client_context(self._transport.client_tls())
            except TLSConfigError as exc:
                raise ProbeError(f"tls: {exc}") from None  # unusable material fails the check, as dials get 502
        if self._ssl is None:
            self._ssl = ssl.create_default_context()
        return self._ssl

    def _check_peer_cert_uri(self, writer: asyncio.StreamWriter) -> None:
        uri = self._transport.peer_cert_uri if self._transport is not None else ""
        if not uri:
            return
        ssl_object = writer.get_extra_info("ssl_object")
        reason = peer_cert_uri_error(ssl_object.getpeercert() if ssl_object is not None else None, uri)
        if reason:
            raise ProbeError(reason)


def _request_head(method: str, path: str, query: str, netloc: str, headers: Mapping[str, str]) -> bytes:
    target = f"{path}?{query}" if query else path
    lines = [f"{method} {target} HTTP/1.1"]
    names = {k.lower() for k in headers}
    host = next((v for k, v in headers.items() if k.lower() == "host"), netloc)
    lines.append(f"Host: {host}")
    if "user-agent" not in names:
        lines.append("User-Agent: Go-http-client/1.1")
    for name, value in headers.items():
        if name.lower() not in ("host", "connection", "content-length", "transfer-encoding"):
            lines.append(f"{name}: {value}")
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, str]:
    while True:
        try:
            raw = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            raise ProbeError("connection closed before a complete response head") from exc
        except asyncio.LimitOverrunError as exc:
            raise ProbeError("response head too large") from exc
        if len(raw) > _MAX_HEAD:
            raise ProbeError("response head too large")
        lines = raw.decode("latin-1").split("\r\n")
        version, _, rest = lines[0].partition(" ")
        code = rest[:3]
        if not version.startswith("HTTP/1.") or len(code) != 3 or not code.isdigit():
            raise ProbeError(f"malformed status line {lines[0]!r}")
        status = int(code)
        if 100 <= status < 200 and status != 101:
            continue  # interim response: the real one follows
        location = ""
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "location":
                location = value.strip()
                break
        return status, location


def make_http_probe(ssl_context: ssl.SSLContext | None = None) -> _HttpProbe:
    """Return a probe (same signature as :func:`http_probe`) that uses ``ssl_context`` for ``https`` servers.

    Use it to honour a serversTransport's TLS settings (CA roots, ``insecureSkipVerify``, client certificates).
    """
    return _HttpProbe(ssl_context)


def transport_probe(transport: TransportOptions) -> _HttpProbe:
    """Return a probe that checks ``https`` servers with ``transport``'s TLS, as the proxy dials them (Traefik's
    health checker uses the service's round tripper)."""
    return _HttpProbe(None, transport)


http_probe = _HttpProbe(None)
"""The default probe: plain asyncio, the system's default TLS verification for ``https``."""
