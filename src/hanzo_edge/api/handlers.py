"""``api@internal`` and ``dashboard@internal``: the JSON API and the dashboard's static files as one handler.

Paths (``<base>`` is ``api.basePath`` without its trailing slash; all ``GET``/``HEAD``):

* ``<base>/api/version``, ``/api/overview``, ``/api/rawdata``, ``/api/entrypoints[/{name}]``;
* ``<base>/api/{http,tcp}/{routers,services,middlewares}[/{name}]``, ``<base>/api/udp/{routers,services}[/{name}]``;
  lists take ``search``, ``status``, ``serviceName``, ``middlewareName``, ``sortBy``, ``direction``, ``page`` and
  ``per_page`` and answer ``X-Next-Page``; names are URL-decoded (``foo%2Fbar``); an unknown name is a 404
  ``{"message": "router not found: x"}``, a bad page a 400;
* ``<base>/dashboard/`` and its files (``index.html``, ``app.js``, ``style.css``), self-contained: no external URL
  is ever referenced, and a strict Content-Security-Policy keeps it that way; ``<base>/`` and ``<base>/dashboard``
  redirect (302) to ``<base>/dashboard/`` (behind ``stripPrefix``, the ``X-Forwarded-Prefix`` is kept).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import unquote

import orjson

from hanzo_edge.api.runtime import SECTIONS, ApiError, RuntimeView, select
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response

__all__ = ["ApiHandler", "dashboard_assets"]

_CONTENT_TYPES = {
    ".html": b"text/html; charset=utf-8",
    ".js": b"text/javascript; charset=utf-8",
    ".css": b"text/css; charset=utf-8",
    ".svg": b"image/svg+xml",
    ".png": b"image/png",
    ".ico": b"image/x-icon",
    ".json": b"application/json",
}

_CSP = (
    b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    b"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

_SINGULAR = {"routers": "router", "services": "service", "middlewares": "middleware"}


@cache
def dashboard_assets() -> dict[str, tuple[bytes, bytes]]:
    """Return the dashboard's files: name → (Content-Type, bytes), read once from the package's ``static/``."""
    assets: dict[str, tuple[bytes, bytes]] = {}
    root = resources.files("hanzo_edge.api").joinpath("static")
    if not root.is_dir():
        return assets
    for entry in root.iterdir():
        if not entry.is_file():
            continue
        suffix = "." + entry.name.rpartition(".")[2] if "." in entry.name else ""
        assets[entry.name] = (_CONTENT_TYPES.get(suffix, b"application/octet-stream"), entry.read_bytes())
    return assets


def _json(status: int, body: Any, extra: list[tuple[bytes, bytes]] | None = None) -> Response:
    headers = [(b"Content-Type", b"application/json"), (b"X-Content-Type-Options", b"nosniff")]
    if extra:
        headers.extend(extra)
    return Response(status, Headers(headers), orjson.dumps(body))


def _not_found() -> Response:
    # gorilla/mux's NotFoundHandler is Go's http.NotFound.
    return Response.text(404, "404 page not found\n")


def _safe_prefix(value: str | None) -> str:
    # X-Forwarded-Prefix goes into Location: accept only a plain absolute path (never "//host" or a scheme).
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return ""
    if any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in value):
        return ""
    return value.rstrip("/")


class ApiHandler:
    """The API and dashboard handler: ``await handler(request) -> Response``.

    ``view_provider()`` returns the :class:`RuntimeView` to answer from (called once per API request; see
    :class:`~hanzo_edge.api.runtime.ViewCache`). ``base_path`` is ``api.basePath``; ``dashboard=False``
    (``api.dashboard: false``) serves the JSON API only.
    """

    __slots__ = ("_api", "_assets", "_dashboard", "_redirects", "base", "view_provider")

    def __init__(
        self, view_provider: Callable[[], RuntimeView], base_path: str = "/", *, dashboard: bool = True
    ) -> None:
        self.view_provider = view_provider
        stripped = base_path.strip("/")
        self.base = f"/{stripped}" if stripped else ""
        self._api = self.base + "/api/"
        self._dashboard = self.base + "/dashboard/"
        redirects = {self.base or "/", self.base + "/", self.base + "/dashboard"}
        self._redirects: frozenset[str] = frozenset(redirects) if dashboard else frozenset()
        self._assets = dashboard_assets() if dashboard else {}

    async def __call__(self, req: Request) -> Response:
        """Answer one request (any path not ours is a 404; methods other than GET/HEAD a 405)."""
        path = req.path
        if req.method not in ("GET", "HEAD"):
            response = Response.text(405, "405 method not allowed\n")
            response.headers.add("Allow", "GET, HEAD")
            return response
        if path.startswith(self._api):
            try:
                return self._api_response(req, path[len(self._api) :])
            except ApiError as exc:
                return _json(exc.status, {"message": exc.message})
        if path in self._redirects:
            prefix = _safe_prefix(req.headers.get("X-Forwarded-Prefix"))
            location = (prefix + self._dashboard).encode("latin-1", "replace")
            return Response(302, Headers([(b"Location", location)]))
        if path.startswith(self._dashboard) and self._assets:
            asset = self._assets.get(path[len(self._dashboard) :] or "index.html")
            if asset is None:
                return _not_found()
            content_type, body = asset
            headers = Headers(
                [
                    (b"Content-Type", content_type),
                    (b"Cache-Control", b"no-cache"),
                    (b"X-Content-Type-Options", b"nosniff"),
                    (b"Referrer-Policy", b"no-referrer"),
                    (b"Content-Security-Policy", _CSP),
                ]
            )
            return Response(200, headers, body)
        return _not_found()

    def _api_response(self, req: Request, rest: str) -> Response:
        params = {key: values[0] for key, values in req.query_params().items() if values}
        if rest in ("version", "overview", "rawdata"):
            view = self.view_provider()
            return _json(200, getattr(view, rest)())
        if rest == "entrypoints":
            page = select(self.view_provider().entrypoints(), params)
            return _json(200, page.items, [(b"X-Next-Page", str(page.next_page).encode())])
        if rest.startswith("entrypoints/"):
            name = self._name(rest[len("entrypoints/") :])
            if name is None:
                return _not_found()
            found = self.view_provider().entrypoint(name)
            if found is None:
                raise ApiError(404, f"entry point not found: {name}")
            return _json(200, found)
        for section in SECTIONS:
            if rest == section:
                items = self.view_provider().items(section)
                page = select(items, params, routers=section.endswith("/routers"))
                return _json(200, page.items, [(b"X-Next-Page", str(page.next_page).encode())])
            if rest.startswith(section + "/"):
                name = self._name(rest[len(section) + 1 :])
                if name is None:
                    return _not_found()
                item = self.view_provider().item(section, name)
                if item is None:
                    raise ApiError(404, f"{_SINGULAR[section.partition('/')[2]]} not found: {name}")
                return _json(200, item)
        return _not_found()

    @staticmethod
    def _name(raw: str) -> str | None:
        # One path segment, URL-decoded: "foo%2Fbar" names "foo/bar"; a literal "/" matches nothing (as in mux).
        if not raw or "/" in raw:
            return None
        return unquote(raw)
