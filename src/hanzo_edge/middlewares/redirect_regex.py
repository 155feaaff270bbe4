"""``redirectRegex``: redirect when a regexp rewrite changes the URL (Traefik ``redirect/redirect_regex.go``).

The regexp (Go RE2) is applied to ``scheme://host/requestURI`` where the scheme is ``https`` over TLS, else
``http`` (``X-Forwarded-Proto`` is *not* consulted) and host is the raw ``Host`` header (port included). When it
matches, every match is replaced as Go's ``ReplaceAllString`` does (``$1``, ``${1}``, ``$name``; ``$1x`` is the
group named ``1x``, so write ``${1}x``). A result different from the URL is a redirect: 302 for GET / 307 for other
methods, or 301 / 308 when ``permanent``, with ``Location`` (Go's parsed and re-serialised form of the result) and
the status text as body; an equal result, or no match, passes the request through.
"""

from __future__ import annotations

from collections.abc import Awaitable

from hanzo_edge.config.middlewares import RedirectRegex as RedirectRegexConfig
from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.middlewares._gocompat import ABSOLUTE_URI, GoReplacer, redirect, request_uri
from hanzo_edge.middlewares.base import BuildContext, register

__all__ = ["RedirectRegex"]


def raw_url(req: Request) -> str:
    """Return the URL Traefik matches for ``redirectRegex`` (its ``rawURL``)."""
    scheme = "http"
    host = req.headers.get("Host") or ""
    port = ""
    target = req.target
    if target and target[0] != "/":
        absolute = ABSOLUTE_URI.match(target)
        if absolute is not None:
            scheme = absolute.group(1)
            host = absolute.group(2) or host
            port = absolute.group(3) or ""
    if req.tls:
        scheme = "https"
    return f"{scheme}://{host}{port}{request_uri(req)}"


@register("redirectRegex")
class RedirectRegex:
    """Redirects to the regexp rewrite of the request URL when it differs.

    Raises ValueError (Go's ``error parsing regexp: ...``) for an expression RE2 rejects.
    """

    __slots__ = ("name", "next", "permanent", "replacer")

    def __init__(self, next: Handler, config: RedirectRegexConfig, *, name: str, ctx: BuildContext) -> None:
        self.replacer = GoReplacer(str(getattr(config, "regex", "") or ""), str(getattr(config, "replacement", "")))
        self.next = next
        self.name = name
        self.permanent = bool(getattr(config, "permanent", False))

    def __call__(self, req: Request) -> Awaitable[Response]:
        old = raw_url(req)
        replacer = self.replacer
        if not replacer.matches(old):
            return self.next(req)
        return redirect(req, old, replacer.replace_all(old), self.permanent, self.next)
