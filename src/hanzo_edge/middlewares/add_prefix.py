"""``addPrefix``: prepend ``prefix`` to the request path (Traefik ``pkg/middlewares/addprefix``)."""

from __future__ import annotations

from collections.abc import Awaitable

from hanzo_edge.config.middlewares import AddPrefix as AddPrefixConfig
from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.middlewares.base import BuildContext, register

__all__ = ["AddPrefix"]


@register("addPrefix")
class AddPrefix:
    """Prepends the prefix; the result always starts with ``/``. Raises ValueError when ``prefix`` is empty."""

    __slots__ = ("name", "next", "prefix")

    def __init__(self, next: Handler, config: AddPrefixConfig, *, name: str, ctx: BuildContext) -> None:
        prefix = str(getattr(config, "prefix", "") or "")
        if not prefix:
            raise ValueError("prefix cannot be empty")
        self.next = next
        self.name = name
        self.prefix = prefix

    def __call__(self, req: Request) -> Awaitable[Response]:
        path = self.prefix + req.path
        req.path = path if path.startswith("/") else "/" + path
        return self.next(req)
