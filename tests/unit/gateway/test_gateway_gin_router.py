"""gin's routing decisions: precedence, redirects, 405 with Allow, no automatic HEAD (and properties of them)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hanzo_edge.gateway.gin_router import (
    FOUND,
    METHOD_NOT_ALLOWED,
    NOT_FOUND,
    REDIRECT,
    GinRouter,
    clean_path,
    gin_path,
)

ROUTES = [
    ("GET", "/users/{id}", "user"),
    ("GET", "/users/new", "new"),
    ("POST", "/users/{id}", "update"),
    ("GET", "/static", "static"),
    ("GET", "/a/{x}/c", "a-x-c"),
    ("GET", "/a/b/d", "a-b-d"),
    ("GET", "/dir/", "dir"),
    ("DELETE", "/dir/", "dir-delete"),
    ("GET", "/", "root"),
]


@pytest.fixture
def router() -> GinRouter[str]:
    return GinRouter(ROUTES)


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/users/1", (FOUND, "user")),
        ("GET", "/users/new", (FOUND, "new")),  # static beats {param}
        ("GET", "/a/b/c", (FOUND, "a-x-c")),  # the static branch fails deeper: back to the param
        ("GET", "/a/b/d", (FOUND, "a-b-d")),
        ("GET", "/", (FOUND, "root")),
        ("GET", "/users/new/", (REDIRECT, ("/users/new?q=1", 301))),  # trailing slash, GET: 301
        ("POST", "/users/7/", (REDIRECT, ("/users/7?q=1", 307))),  # other methods: 307
        ("GET", "/dir", (REDIRECT, ("/dir/?q=1", 301))),
        ("GET", "/StAtic", (REDIRECT, ("/static?q=1", 301))),  # fixed path: case
        ("GET", "/x/../static", (REDIRECT, ("/static?q=1", 301))),  # fixed path: cleaned
        ("GET", "//static", (REDIRECT, ("/static?q=1", 301))),
        ("HEAD", "/static", (METHOD_NOT_ALLOWED, "GET")),  # no automatic HEAD
        ("PUT", "/users/1", (METHOD_NOT_ALLOWED, "GET, POST")),
        ("GET", "/nope", (NOT_FOUND, None)),
        ("GET", "/users/", (NOT_FOUND, None)),  # a parameter never matches an empty segment
    ],
)
def test_decisions(router: GinRouter[str], method: str, path: str, expected: tuple[int, object]) -> None:
    assert router.lookup(method, path, "q=1") == expected


def test_redirects_can_be_disabled() -> None:
    router = GinRouter(ROUTES, redirect_trailing_slash=False, redirect_fixed_path=False)
    assert router.lookup("GET", "/dir", "") == (NOT_FOUND, None)
    assert router.lookup("GET", "/StAtic", "") == (NOT_FOUND, None)


def test_method_not_allowed_can_be_disabled() -> None:
    router = GinRouter(ROUTES, handle_method_not_allowed=False)
    assert router.lookup("PUT", "/users/1") == (NOT_FOUND, None)


def test_find_binds_parameters(router: GinRouter[str]) -> None:
    assert router.find("GET", "/a/zz/c") == ("a-x-c", {"x": "zz"})


def test_conflicting_routes_are_refused_as_gin_does() -> None:
    with pytest.raises(ValueError, match="conflicts with existing wildcard"):
        GinRouter([("GET", "/u/{id}", 1), ("GET", "/u/{name}/x", 2)])
    with pytest.raises(ValueError, match="already registered"):
        GinRouter([("GET", "/u", 1), ("GET", "/u", 2)])


def test_helpers() -> None:
    assert gin_path("/users/{id}/posts/{post}") == "/users/:id/posts/:post"
    assert clean_path("/a//b/./c/../d/") == "/a/b/d/"
    assert clean_path("") == "/"


segment = st.text(alphabet="abcXY", min_size=1, max_size=3)
template = st.lists(st.one_of(segment, st.just("{p}")), min_size=1, max_size=4)


@given(st.lists(template, min_size=1, max_size=8, unique_by=lambda t: "/".join(t)), st.data())
def test_every_registered_route_is_found_and_static_paths_win(templates: list[list[str]], data: st.DataObject) -> None:
    # gin refuses two parameter names at one level; one name ({p}) keeps every generated table valid.
    routes = [("GET", "/" + "/".join(t), "/".join(t)) for t in templates]
    router = GinRouter(routes)
    for _, path, name in routes:
        concrete = path.replace("{p}", data.draw(segment))
        kind, handler = router.lookup("GET", concrete)
        assert kind == FOUND
        # Whatever matched must match the concrete path segment for segment, static segments exactly.
        parts, wanted = str(handler).split("/"), concrete[1:].split("/")
        assert len(parts) == len(wanted)
        assert all(p == "{p}" or p == w for p, w in zip(parts, wanted, strict=True))
        if "{p}" not in path:
            assert handler == name  # a static route always wins over parameters


@given(st.lists(segment, min_size=1, max_size=4))
def test_trailing_slash_redirect_goes_to_a_route(parts: list[str]) -> None:
    path = "/" + "/".join(parts)
    router = GinRouter([("GET", path, "r")])
    kind, value = router.lookup("GET", path + "/")
    assert kind == REDIRECT
    location, status = value  # type: ignore[misc]
    assert (status, router.lookup("GET", location)[0]) == (301, FOUND)


def _reference(routes: list[str], path: str) -> str | None:
    """gin's precedence by brute force: of the routes matching segment for segment, the one whose first differing
    segment is static (a depth-first search that tries static children before the parameter)."""
    wanted = path[1:].split("/")
    matching = []
    for route in routes:
        parts = route[1:].split("/")
        if len(parts) == len(wanted) and all((p == "{p}" and w) or p == w for p, w in zip(parts, wanted, strict=True)):
            matching.append(parts)
    if not matching:
        return None
    best = min(matching, key=lambda parts: [1 if p == "{p}" else 0 for p in parts])
    return "/" + "/".join(best)


@given(
    st.lists(template.map(lambda t: "/" + "/".join(t)), min_size=1, max_size=10, unique=True),
    st.lists(st.lists(st.sampled_from(["a", "b", "X", "ab", ""]), min_size=1, max_size=4), max_size=10),
)
def test_lookup_agrees_with_a_brute_force_model(routes: list[str], requests: list[list[str]]) -> None:
    router = GinRouter([("GET", route, route) for route in routes])
    for segments in requests:
        path = "/" + "/".join(segments)
        found = router.find("GET", path)
        assert (found[0] if found else None) == _reference(routes, path)
