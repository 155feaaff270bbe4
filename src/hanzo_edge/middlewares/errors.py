"""``errors``: serve an error page from another service (Traefik ``pkg/middlewares/customerrors``).

When the response status is in one of the ``status`` ranges (``"500-599"``, ``"404"``, or comma-separated items;
bounds inclusive; 1xx always pass), the response body is discarded and a ``GET`` for ``query`` is sent to
``service`` with the same ``Host`` and the request headers (all of them, or only ``errorRequestHeaders``). Its
answer (headers and body) goes to the client with the original status, or the one ``statusRewrites`` maps it to.
``query`` placeholders: ``{status}`` (the status sent, i.e. rewritten), ``{originalStatus}`` and ``{url}`` (the
request's escaped path and query, query-escaped). An upstream failure of the wrapped handler counts with its
status (502/504, 503 when no server is available), as in Traefik where the proxy's error reaches the catcher.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote_plus

from hanzo_edge.config.middlewares import ErrorPage as ErrorPageConfig
from hanzo_edge.http.body import StreamBody
from hanzo_edge.http.errors import ClientClosed, NoAvailableServer, UpstreamError
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.http.status import status_text
from hanzo_edge.middlewares._gocompat import escaped_path, go_url_string, to_bytes
from hanzo_edge.middlewares.base import BuildContext, register

__all__ = ["ErrorPage", "parse_code_ranges"]

_ATOI = re.compile(r"[+-]?[0-9]+\Z")
_NOT_FORWARDED = frozenset({b"content-length", b"transfer-encoding", b"trailer"})  # the page request has no body

CodeRanges = tuple[tuple[int, int], ...]


def _atoi(text: str) -> int:
    if not _ATOI.match(text):
        raise ValueError(f'strconv.Atoi: parsing "{text}": invalid syntax')
    return int(text)


def parse_code_ranges(blocks: Iterable[str]) -> CodeRanges:
    """Return the inclusive ``(low, high)`` ranges of ``["500-599", "404,418"]`` (Go's ``NewHTTPCodeRanges``).

    Raises ValueError (Go's ``strconv.Atoi`` message) for a bound that is not an integer.
    """
    out: list[tuple[int, int]] = []
    for block in blocks:
        for item in str(block).split(","):
            codes = item.split("-")
            if len(codes) == 1:
                codes.append(codes[0])
            out.append((_atoi(codes[0]), _atoi(codes[1])))
    return tuple(out)


def _contains(ranges: CodeRanges, status: int) -> bool:
    return any(low <= status <= high for low, high in ranges)


def _discard(body: bytes | StreamBody) -> None:
    if isinstance(body, StreamBody):
        body.drain()  # the page replaces it; the backend connection finishes its message and stays reusable


@register("errors")
class ErrorPage:
    """Replaces error responses by the page ``service`` serves for ``query``.

    Raises ValueError for a status range that is not made of integers, a rewrite to an invalid status, or a
    ``service`` that does not exist.
    """

    __slots__ = ("name", "next", "query", "ranges", "request_headers", "rewrites", "service")

    def __init__(self, next: Handler, config: ErrorPageConfig, *, name: str, ctx: BuildContext) -> None:
        self.ranges = parse_code_ranges(getattr(config, "status", ()) or ())
        rewrites: list[tuple[CodeRanges, int]] = []
        for block, code in dict(getattr(config, "status_rewrites", None) or {}).items():
            status = int(code)
            if not 100 <= status <= 999:
                raise ValueError(f"invalid status code {status} in statusRewrites")
            rewrites.append((parse_code_ranges([block]), status))
        service_name = str(getattr(config, "service", "") or "")
        service = ctx.service(service_name) if service_name else None
        if service is None:
            qualified = service_name if "@" in service_name else f"{service_name}@{ctx.provider}"
            raise ValueError(f'the service "{qualified}" does not exist')
        wanted = tuple(getattr(config, "error_request_headers", ()) or ())
        self.next = next
        self.name = name
        self.service = service
        self.rewrites = tuple(rewrites)
        self.query = str(getattr(config, "query", "") or "")
        self.request_headers = frozenset(h.strip().lower().encode("latin-1") for h in wanted) or None

    def _rewrite(self, status: int) -> int:
        for ranges, code in self.rewrites:
            if _contains(ranges, status):
                return code
        return status

    def _page_target(self, req: Request, code: int, original: int) -> str:
        if not self.query:
            return ""
        query = "/" + self.query.removeprefix("/")
        query = query.replace("{status}", str(code)).replace("{originalStatus}", str(original))
        if "{url}" in query:
            url = f"{req.path}?{req.query}" if req.query else req.path
            query = query.replace("{url}", quote_plus(to_bytes(url), safe=""))
        return query

    def page_request(self, req: Request, code: int, original: int) -> Request | None:
        """Return the GET for the error page (None when Go could not parse its URL: the caller answers the status)."""
        target = self._page_target(req, code, original)
        raw_host = req.headers.get("Host") or ""
        try:
            go_url_string(f"http://{raw_host}{target}")  # Go builds the page request from this URL
            uri = target.split("#", 1)[0]
            path, _, query = uri.partition("?")
            path = escaped_path(path) if path else "/"
        except ValueError:
            return None
        wanted = self.request_headers
        raw = [
            (k, v)
            for k, v in req.headers.raw
            if (lname := k.lower()) not in _NOT_FORWARDED and (wanted is None or lname in wanted or lname == b"host")
        ]
        return Request(
            "GET",
            f"{path}?{query}" if query else path,
            Headers(raw),
            path=path,
            query=query,
            version=req.version,
            host=req.host,
            client_ip=req.client_ip,
            client_port=req.client_port,
            scheme=req.scheme,
            entry_point=req.entry_point,
        )

    async def __call__(self, req: Request) -> Response:
        try:
            response = await self.next(req)
        except ClientClosed:
            raise
        except NoAvailableServer:
            if not _contains(self.ranges, 503):
                raise
            original = 503
        except UpstreamError as exc:
            if not _contains(self.ranges, exc.status):
                raise
            original = exc.status
        else:
            original = response.status
            if original < 200 or not _contains(self.ranges, original):
                return response
            _discard(response.body)
        code = self._rewrite(original)
        page = self.page_request(req, code, original)
        if page is None:
            return Response.text(code, status_text(code) + "\n")
        try:
            answer = await self.service(page)
        except ClientClosed:
            raise
        except NoAvailableServer:
            answer = Response.text(503, "no available server\n")
        except UpstreamError as exc:
            answer = Response(exc.status, Headers(), status_text(exc.status).encode("latin-1"))
        answer.status = code
        answer.reason = None
        return answer
