"""``replacePath``: replace the request path (Traefik ``pkg/middlewares/replacepath``).

The old escaped path goes upstream in ``X-Replaced-Path`` (added); the query is kept. ``path`` is the new raw
(escaped) path: it goes upstream as written when it is a valid escaped path, else re-escaped as Go's
``URL.EscapedPath`` does (``/a b`` → ``/a%20b``). A malformed escape in ``path`` (``%zz``) makes every request
answer 500 with Go's message, as Traefik does (it does not reject the configuration).
"""

from __future__ import annotations

from collections.abc import Awaitable

from hanzo_edge.config.middlewares import ReplacePath as ReplacePathConfig
from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.middlewares._gocompat import escaped_path
from hanzo_edge.middlewares.base import BuildContext, register

__all__ = ["ReplacePath"]


@register("replacePath")
class ReplacePath:
    """Sets the path to ``path`` and adds ``X-Replaced-Path`` with the old one."""

    __slots__ = ("error", "name", "next", "path")

    def __init__(self, next: Handler, config: ReplacePathConfig, *, name: str, ctx: BuildContext) -> None:
        raw = str(getattr(config, "path", "") or "")
        self.next = next
        self.name = name
        self.error: str | None = None
        try:
            self.path = escaped_path(raw)
        except ValueError as exc:
            self.path = raw
            self.error = f"{exc}\n"

    async def _fail(self) -> Response:
        return Response.text(500, self.error or "")

    def __call__(self, req: Request) -> Awaitable[Response]:
        req.headers.add("X-Replaced-Path", req.path)
        if self.error is not None:
            return self._fail()
        req.path = self.path
        return self.next(req)
