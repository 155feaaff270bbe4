"""``redirectScheme``: redirect to another scheme and port (Traefik ``pkg/middlewares/redirect/redirect_scheme.go``).

Traefik rebuilds the URL the client used, ``scheme://host[:port]/requestURI``: the scheme is ``https`` over TLS,
else ``http``, overridden by ``X-Forwarded-Proto`` (``http``/``ws`` → ``http``, ``https``/``wss`` → ``https``,
anything else ignored); host and port come from the ``Host`` header, and the port is dropped when it is the
scheme's default (``http``+``80``, ``https``+``443``). The target keeps the host and request URI and swaps in
``scheme`` and ``port`` (``port`` omitted for ``http``+``80`` and ``https``+``443``, and when not set). When the
target equals the client URL the request passes through; otherwise the answer is a redirect: 302 for GET / 307
for other methods, or 301 / 308 when ``permanent``, with ``Location`` and the status text as body.

Consequence kept from Traefik: without ``port``, a request to ``https://host:8443`` is redirected to
``https://host`` (the port is not kept).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable

from hanzo_edge.config.middlewares import RedirectScheme as RedirectSchemeConfig
from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.middlewares._gocompat import ABSOLUTE_URI, redirect, request_uri
from hanzo_edge.middlewares.base import BuildContext, register

__all__ = ["RedirectScheme"]

# Traefik's uriPattern, applied to the rebuilt client URL: (scheme://)?(host)?(:port)?(rest).
_URI_PATTERN = re.compile(r"(https?://)?(\[[\w:.]+\]|[\w._-]+)?(:\d+)?(.*)\Z", re.ASCII)
_HOST_PORT = re.compile(r"(\[[^\]]*\]|[^:]*):([^:]*)\Z")


def split_host(raw: str) -> tuple[str, str]:
    """Split a raw ``Host`` value into host and ``:port`` (``""`` when absent); IPv6 brackets are kept."""
    match = _HOST_PORT.match(raw)
    if match is None:
        return raw, ""
    return match.group(1), ":" + match.group(2)


@register("redirectScheme")
class RedirectScheme:
    """Redirects to ``scheme`` (and ``port``) unless the request already uses them.

    Raises ValueError ``you must provide a target scheme`` when ``scheme`` is empty.
    """

    __slots__ = ("name", "next", "permanent", "port", "scheme")

    def __init__(self, next: Handler, config: RedirectSchemeConfig, *, name: str, ctx: BuildContext) -> None:
        scheme = str(getattr(config, "scheme", "") or "")
        if not scheme:
            raise ValueError("you must provide a target scheme")
        port = str(getattr(config, "port", "") or "")
        default = (scheme == "http" and port == "80") or (scheme == "https" and port == "443")
        self.next = next
        self.name = name
        self.scheme = scheme
        self.port = ":" + port if port and not default else ""
        self.permanent = bool(getattr(config, "permanent", False))

    def client_url(self, req: Request) -> str:
        """Return the URL the client used, as Traefik rebuilds it (``clientRequestURL``)."""
        scheme = "http"
        host, port = split_host(req.headers.get("Host") or "")
        target = req.target
        if target and target[0] != "/":
            absolute = ABSOLUTE_URI.match(target)
            if absolute is not None:
                scheme = absolute.group(1)
                host = absolute.group(2) or host
                port = absolute.group(3) or port
        if req.tls:
            scheme = "https"
        proto = req.headers.get("X-Forwarded-Proto")
        if proto:
            lowered = proto.lower()
            if lowered in ("http", "ws"):
                scheme = "http"
            elif lowered in ("https", "wss"):
                scheme = "https"
        if (scheme == "http" and port == ":80") or (scheme == "https" and port == ":443"):
            port = ""
        return f"{scheme}://{host}{port}{request_uri(req)}"

    def target_url(self, client_url: str) -> str | None:
        """Return the redirect target for ``client_url`` (None when Traefik's pattern does not match it)."""
        match = _URI_PATTERN.match(client_url)
        if match is None:
            return None
        return f"{self.scheme}://{match.group(2) or ''}{self.port}{match.group(4)}"

    def __call__(self, req: Request) -> Awaitable[Response]:
        old = self.client_url(req)
        new = self.target_url(old)
        if new is None:
            return self.next(req)
        return redirect(req, old, new, self.permanent, self.next)
