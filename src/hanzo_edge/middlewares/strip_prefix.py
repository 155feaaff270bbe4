"""``stripPrefix``: remove the first listed prefix the path starts with (Traefik ``pkg/middlewares/stripprefix``).

The first prefix in list order wins (not the longest). The stripped prefix goes upstream in ``X-Forwarded-Prefix``.
The result gets a leading ``/`` unless it is empty (stripping ``/stat`` from ``/stat`` leaves the empty path, which
is sent as ``/``). If the stripped path would change under normalisation (``/api..`` → ``/..``), the answer is 400.
"""

from __future__ import annotations

from collections.abc import Awaitable

from hanzo_edge.config.middlewares import StripPrefix as StripPrefixConfig
from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.http.paths import sanitize_path
from hanzo_edge.middlewares.base import BuildContext, register

__all__ = ["StripPrefix"]


async def _bad_request() -> Response:
    return Response.text(400, "Bad Request\n")


@register("stripPrefix")
class StripPrefix:
    """Strips the first matching prefix and sets ``X-Forwarded-Prefix``."""

    __slots__ = ("name", "next", "prefixes")

    def __init__(self, next: Handler, config: StripPrefixConfig, *, name: str, ctx: BuildContext) -> None:
        self.next = next
        self.name = name
        self.prefixes = tuple(p.strip() for p in getattr(config, "prefixes", ()) or () if p.strip())

    def __call__(self, req: Request) -> Awaitable[Response]:
        path = req.path
        for prefix in self.prefixes:
            if path.startswith(prefix):
                rest = path[len(prefix) :]
                if rest and not rest.startswith("/"):
                    rest = "/" + rest
                if rest and sanitize_path(rest) != rest:
                    return _bad_request()
                req.path = rest
                req.headers.add("X-Forwarded-Prefix", prefix)  # Traefik adds (a second strip adds another)
                break
        return self.next(req)
