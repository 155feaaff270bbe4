"""Entrypoint path handling (``hanzo_edge.http.paths``) against Traefik v3.6 / Go ``net/url`` results."""

from __future__ import annotations

import pytest

from hanzo_edge.http.paths import (
    PathError,
    denied_escapes,
    encoded_character_violation,
    normalize_path,
    routing_path,
    sanitize_path,
)

NORMALIZE = {
    "no-escape": ("/a/b", "/a/b"),
    "unreserved-upper": ("/%41%5A", "/AZ"),
    "unreserved-lower-hex": ("/%7e%2d%2e%5f", "/~-._"),
    "digits": ("/%30%39", "/09"),
    "reserved-upper-cased": ("/a%2fb%3a", "/a%2Fb%3A"),
    "utf8-kept-encoded": ("/%e2%82%ac", "/%E2%82%AC"),
    "percent-kept": ("/%25", "/%25"),
}


@pytest.mark.parametrize(("raw", "expected"), list(NORMALIZE.values()), ids=list(NORMALIZE))
def test_normalize_path(raw: str, expected: str) -> None:
    assert normalize_path(raw) == expected


@pytest.mark.parametrize("raw", ["/a%zz", "/a%", "/a%4", "/%g1"], ids=["non-hex", "trailing", "short", "g"])
def test_normalize_path_rejects_malformed_escapes(raw: str) -> None:
    with pytest.raises(PathError):
        normalize_path(raw)


# Traefik's sanitizePath is Go's url.URL.JoinPath(): path.Join (= path.Clean) of the escaped path, plus a trailing
# slash only when the original path ended with "/".
SANITIZE = {
    "root": ("/", "/"),
    "plain": ("/a/b", "/a/b"),
    "dot-dot": ("/foo/../bar", "/bar"),
    "double-slash": ("/a//b", "/a/b"),
    "trailing-double-slash": ("/foo/bar//", "/foo/bar/"),
    "dot": ("/a/./b/", "/a/b/"),
    "above-root": ("/../../a", "/a"),
    "only-slashes": ("//", "/"),
    "root-dot": ("/.", "/"),
    "trailing-dot": ("/foo/.", "/foo"),
    "trailing-dot-dot": ("/foo/bar/..", "/foo"),
    "encoded-slash-is-not-a-separator": ("/a%2F../b", "/a%2F../b"),
    "encoded-dots-are-not-dot-segments": ("/a/%2E%2E/b", "/a/%2E%2E/b"),
}


@pytest.mark.parametrize(("raw", "expected"), list(SANITIZE.values()), ids=list(SANITIZE))
def test_sanitize_path_is_go_join_path(raw: str, expected: str) -> None:
    assert sanitize_path(raw) == expected


ROUTING = {
    "space": ("/a%20b", "/a b"),
    "reserved-slash-kept": ("/a%2Fb", "/a%2Fb"),
    "reserved-percent-kept": ("/%25", "/%25"),
    "utf8": ("/%C3%A9", "/\u00e9"),
    "plain": ("/x", "/x"),
}


@pytest.mark.parametrize(("path", "expected"), list(ROUTING.values()), ids=list(ROUTING))
def test_routing_path(path: str, expected: str) -> None:
    assert routing_path(path) == expected


def test_denied_escapes_from_encoded_characters_flags() -> None:
    assert denied_escapes() == ()
    assert denied_escapes(allow_encoded_slash=False, allow_encoded_hash=False) == ("%2F", "%23")
    assert denied_escapes(allow_encoded_slash=True) == ()


@pytest.mark.parametrize(
    ("path", "denied", "expected"),
    [("/a%2Fb", ("%2F",), "%2F"), ("/a%3Bb", ("%2F",), None), ("/plain", ("%2F",), None), ("/%25", ("%25",), "%25")],
    ids=["denied", "other-escape", "no-escape", "percent"],
)
def test_encoded_character_violation(path: str, denied: tuple[str, ...], expected: str | None) -> None:
    assert encoded_character_violation(path, denied) == expected
