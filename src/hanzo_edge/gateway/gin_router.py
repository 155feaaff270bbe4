"""gin's routing decisions (the router KrakenD CE serves endpoints with), as a table built once per configuration.

What gin does for a request (``gin.Engine.handleHTTPRequest``, gin ≥ 1.8, KrakenD's settings):

1. find the route of the request's method: static segments beat ``:params`` at every level, backtracking to the
   parameter when the static branch fails deeper down; a parameter matches one non-empty segment;
2. none, and the method has routes and the path is not ``/``: if the path with or without a trailing slash has a
   route, redirect there (``RedirectTrailingSlash``); else if the cleaned path matched case-insensitively has one,
   redirect there (``RedirectFixedPath``). 301 for GET, 307 for any other method; the query is kept;
3. still none: if another method has a route for the path, 405 with ``Allow`` (``HandleMethodNotAllowed``);
4. otherwise 404. There is no automatic HEAD: HEAD is a method like any other.

Written here rather than ported from a library: no Python router reproduces gin's precedence and redirect rules,
and the decisions are what KrakenD users depend on (krakend.md §6.2). Lookups do one dict probe for a fully static
path; other paths walk one node per segment.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Generic, TypeVar

__all__ = ["FOUND", "METHOD_NOT_ALLOWED", "NOT_FOUND", "REDIRECT", "GinRouter", "clean_path", "gin_path"]

H = TypeVar("H")

FOUND = 0
REDIRECT = 1
METHOD_NOT_ALLOWED = 2
NOT_FOUND = 3


class _Node(Generic[H]):
    # A plain slotted class, not a slots dataclass: mypyc (the compiled build) cannot import the latter.
    __slots__ = ("handlers", "lowered", "param", "param_name", "static")

    def __init__(self, param_name: str = "") -> None:
        self.static: dict[str, _Node[H]] = {}
        self.lowered: dict[str, list[tuple[str, _Node[H]]]] = {}
        self.param: _Node[H] | None = None
        self.param_name = param_name
        self.handlers: dict[str, H] = {}


def gin_path(endpoint: str) -> str:
    """KrakenD's ``/users/{id}`` written as gin's ``/users/:id``."""
    return "/".join(":" + s[1:-1] if s.startswith("{") and s.endswith("}") else s for s in endpoint.split("/"))


def clean_path(path: str) -> str:
    """Go's ``gin.cleanPath``: one leading ``/``, no ``//``, ``.`` and ``..`` resolved, a trailing ``/`` kept."""
    if not path:
        return "/"
    trailing = path.endswith("/") and path != "/"
    out: list[str] = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if out:
                out.pop()
            continue
        out.append(segment)
    cleaned = "/" + "/".join(out)
    if trailing and cleaned != "/":
        cleaned += "/"
    return cleaned


class GinRouter(Generic[H]):
    """Routes ``(method, path)`` to a handler as gin does. Raises ValueError for routes gin refuses to register."""

    __slots__ = ("_methods", "_root", "_static", "fixed_path", "method_not_allowed", "trailing_slash")

    def __init__(
        self,
        routes: Iterable[tuple[str, str, H]],
        *,
        redirect_trailing_slash: bool = True,
        redirect_fixed_path: bool = True,
        handle_method_not_allowed: bool = True,
    ) -> None:
        self._root: _Node[H] = _Node()
        self._static: dict[tuple[str, str], H] = {}
        self._methods: list[str] = []
        self.trailing_slash = redirect_trailing_slash
        self.fixed_path = redirect_fixed_path
        self.method_not_allowed = handle_method_not_allowed
        for method, path, handler in routes:
            self.add(method, path, handler)

    def add(self, method: str, path: str, handler: H) -> None:
        """Register ``handler`` for ``method`` and ``path`` (``{name}`` or ``:name`` segments are parameters)."""
        if not path.startswith("/"):
            raise ValueError(f"path must begin with '/' in path {path!r}")
        node = self._root
        is_static = True
        for segment in path[1:].split("/"):
            name = _param_name(segment)
            if name is None:
                child = node.static.get(segment)
                if child is None:
                    child = node.static[segment] = _Node()
                    node.lowered.setdefault(segment.lower(), []).append((segment, child))
                node = child
                continue
            is_static = False
            if node.param is None:
                node.param = _Node(param_name=name)
            elif node.param.param_name != name:
                raise ValueError(
                    f"':{name}' in new path {path!r} conflicts with existing wildcard ':{node.param.param_name}'"
                )
            node = node.param
        if method in node.handlers:
            raise ValueError(f"handlers are already registered for path {path!r} ({method})")
        node.handlers[method] = handler
        if method not in self._methods:
            self._methods.append(method)
        if is_static:
            self._static[(method, path)] = handler

    def find(self, method: str, path: str) -> tuple[H, dict[str, str]] | None:
        """The handler of ``method`` for exactly ``path`` and the parameters it binds, or None."""
        handler = self._static.get((method, path))
        if handler is not None:
            return handler, {}
        if not path.startswith("/"):
            return None
        params: dict[str, str] = {}
        found = _search(self._root, path[1:].split("/"), 0, method, params)
        return None if found is None else (found, params)

    def lookup(self, method: str, path: str, query: str = "") -> tuple[int, object]:
        """gin's decision for a request: ``(FOUND, handler)``, ``(REDIRECT, (location, status))``,
        ``(METHOD_NOT_ALLOWED, allow_header)`` or ``(NOT_FOUND, None)``."""
        handler = self._static.get((method, path))
        if handler is not None:
            return FOUND, handler
        found = self.find(method, path)
        if found is not None:
            return FOUND, found[0]
        if method in self._methods and method != "CONNECT" and path != "/":
            target = self._redirect_target(method, path)
            if target is not None:
                location = f"{target}?{query}" if query else target
                return REDIRECT, (location, 301 if method == "GET" else 307)
        if self.method_not_allowed:
            allowed = [m for m in self._methods if m != method and self.find(m, path) is not None]
            if allowed:
                return METHOD_NOT_ALLOWED, ", ".join(allowed)
        return NOT_FOUND, None

    def _redirect_target(self, method: str, path: str) -> str | None:
        if self.trailing_slash:
            other = path[:-1] if len(path) > 1 and path.endswith("/") else path + "/"
            if self.find(method, other) is not None:
                return other
        if self.fixed_path:
            fixed = self.case_insensitive(method, clean_path(path))
            if fixed is not None:
                return fixed
        return None

    def case_insensitive(self, method: str, path: str) -> str | None:
        """gin's ``findCaseInsensitivePath``: the registered spelling of ``path`` ignoring case (trying the other
        trailing-slash form too when trailing-slash redirects are on), or None."""
        candidates = [path]
        if self.trailing_slash:
            candidates.append(path[:-1] if len(path) > 1 and path.endswith("/") else path + "/")
        for candidate in candidates:
            spelled = _search_ci(self._root, candidate[1:].split("/"), 0, method)
            if spelled is not None:
                return "/" + "/".join(spelled)
        return None

    def methods(self) -> list[str]:
        """The methods with at least one route, in registration order."""
        return list(self._methods)


def _param_name(segment: str) -> str | None:
    if segment.startswith(":") and len(segment) > 1:
        return segment[1:]
    if len(segment) > 2 and segment.startswith("{") and segment.endswith("}"):
        return segment[1:-1]
    return None


def _search(node: _Node[H], segments: list[str], index: int, method: str, params: dict[str, str]) -> H | None:
    if index == len(segments):
        return node.handlers.get(method)
    segment = segments[index]
    child = node.static.get(segment)
    if child is not None:
        found = _search(child, segments, index + 1, method, params)
        if found is not None:
            return found
    param = node.param
    if param is not None and segment:
        found = _search(param, segments, index + 1, method, params)
        if found is not None:
            params[param.param_name] = segment
            return found
    return None


def _search_ci(node: _Node[H], segments: list[str], index: int, method: str) -> list[str] | None:
    if index == len(segments):
        return [] if method in node.handlers else None
    segment = segments[index]
    for spelled, child in node.lowered.get(segment.lower(), ()):
        rest = _search_ci(child, segments, index + 1, method)
        if rest is not None:
            return [spelled, *rest]
    param = node.param
    if param is not None and segment:
        rest = _search_ci(param, segments, index + 1, method)
        if rest is not None:
            return [segment, *rest]
    return None
