"""``replacePathRegex``: rewrite the escaped path with a Go regexp (Traefik ``pkg/middlewares/replacepathregex``).

When ``regex`` (Go RE2, spaces trimmed) matches the escaped path and ``replacement`` is not empty, every match is
replaced as Go's ``ReplaceAllString`` does (``$1``, ``${1}``, ``$name``; ``$1x`` is the group named ``1x``, so write
``${1}x``), the old path goes upstream in ``X-Replaced-Path`` and the query is kept. The result goes upstream as
written when it is a valid escaped path, else re-escaped as Go's ``URL.EscapedPath`` does. A malformed escape in the
result is a 500 with Go's message; a result that normalisation would change (``..``, ``//``) is a 400.
"""

from __future__ import annotations

from collections.abc import Awaitable

from hanzo_edge.config.middlewares import ReplacePathRegex as ReplacePathRegexConfig
from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.http.paths import sanitize_path
from hanzo_edge.middlewares._gocompat import GoReplacer, escaped_path
from hanzo_edge.middlewares.base import BuildContext, register

__all__ = ["ReplacePathRegex"]


async def _answer(status: int, text: str) -> Response:
    return Response.text(status, text)


@register("replacePathRegex")
class ReplacePathRegex:
    """Replaces regexp matches in the path and adds ``X-Replaced-Path``.

    Raises ValueError (``error compiling regular expression <regex>: ...``) for an expression RE2 rejects.
    """

    __slots__ = ("name", "next", "replacer")

    def __init__(self, next: Handler, config: ReplacePathRegexConfig, *, name: str, ctx: BuildContext) -> None:
        regex = str(getattr(config, "regex", "") or "")
        replacement = str(getattr(config, "replacement", "") or "").strip()
        try:
            replacer = GoReplacer(regex.strip(), replacement)
        except ValueError as exc:
            raise ValueError(f"error compiling regular expression {regex}: {exc}") from None
        self.next = next
        self.name = name
        self.replacer: GoReplacer | None = replacer if replacement else None

    def __call__(self, req: Request) -> Awaitable[Response]:
        replacer = self.replacer
        if replacer is None:
            return self.next(req)
        current = req.path
        if not replacer.matches(current):
            return self.next(req)
        req.headers.add("X-Replaced-Path", current)
        try:
            path = escaped_path(replacer.replace_all(current))
        except ValueError as exc:
            return _answer(500, f"{exc}\n")
        if path and sanitize_path(path) != path:
            return _answer(400, "Bad Request\n")
        req.path = path
        return self.next(req)
