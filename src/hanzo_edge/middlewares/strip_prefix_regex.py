"""``stripPrefixRegex``: strip the first regex match that is a prefix of the path (Traefik ``stripprefixregex``).

Each expression (Go RE2 syntax, surrounding spaces trimmed) is tried in list order against the decoded path
(Go's ``URL.Path``); the first one whose leftmost match is non-empty and is a prefix of the path wins. The matched
text goes upstream in ``X-Forwarded-Prefix`` (added, as Traefik does) and is removed from the path; the rest gets a
leading ``/`` unless it is empty (sent as ``/``). The escaped form of the path is kept, so ``/api/a%2Fb`` stripped of
``/api/`` forwards ``/a%2Fb``. If the stripped path would change under normalisation (``..``), the answer is 400.
"""

from __future__ import annotations

from collections.abc import Awaitable

from hanzo_edge.config.middlewares import StripPrefixRegex as StripPrefixRegexConfig
from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.http.paths import sanitize_path
from hanzo_edge.middlewares._gocompat import unescape_to_bytes
from hanzo_edge.middlewares.base import BuildContext, register
from hanzo_edge.rules.goregexp import GoRegexp, compile_go_regexp

__all__ = ["StripPrefixRegex"]

_HEX = frozenset("0123456789abcdefABCDEF")


async def _bad_request() -> Response:
    return Response.text(400, "Bad Request\n")


def _raw_offset(raw: str, decoded_bytes: int) -> int:
    """Return the index in the escaped ``raw`` path where the first ``decoded_bytes`` decoded bytes end."""
    i = consumed = 0
    n = len(raw)
    while i < n and consumed < decoded_bytes:
        ch = raw[i]
        if ch == "%" and i + 2 < n and raw[i + 1] in _HEX and raw[i + 2] in _HEX:
            i += 3
            consumed += 1
        else:
            consumed += 1 if ord(ch) < 256 else len(ch.encode("utf-8", "surrogateescape"))
            i += 1
    return i


@register("stripPrefixRegex")
class StripPrefixRegex:
    """Strips the first matching regex prefix and adds ``X-Forwarded-Prefix``.

    Raises ValueError (Go's ``error parsing regexp: ...``) for an expression RE2 rejects.
    """

    __slots__ = ("expressions", "name", "next")

    def __init__(self, next: Handler, config: StripPrefixRegexConfig, *, name: str, ctx: BuildContext) -> None:
        expressions: list[GoRegexp] = []
        for expression in getattr(config, "regex", ()) or ():
            expressions.append(compile_go_regexp(str(expression).strip()))
        self.next = next
        self.name = name
        self.expressions = tuple(expressions)

    def __call__(self, req: Request) -> Awaitable[Response]:
        if not self.expressions:
            return self.next(req)
        raw = req.path
        plain = raw.isascii() and "%" not in raw
        if plain:
            decoded = raw
        else:
            try:
                decoded = unescape_to_bytes(raw).decode("utf-8", "surrogateescape")
            except ValueError:
                return self.next(req)  # the entrypoint rejects malformed escapes: nothing sensible to strip
        for expression in self.expressions:
            match = expression.search(decoded)
            prefix = None if match is None else match.group()
            if not prefix or not decoded.startswith(prefix):
                continue
            if plain:
                rest = raw[len(prefix) :]
            else:
                rest = raw[_raw_offset(raw, len(prefix.encode("utf-8", "surrogateescape"))) :]
            if rest and not rest.startswith("/"):
                rest = "/" + rest
            if rest and sanitize_path(rest) != rest:
                return _bad_request()
            req.path = rest
            if not prefix.isascii():
                prefix = prefix.encode("utf-8", "surrogateescape").decode("latin-1")  # the header carries bytes
            req.headers.add("X-Forwarded-Prefix", prefix)
            break
        return self.next(req)
