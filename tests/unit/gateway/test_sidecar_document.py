"""``ingress.json`` checking: defaults, the quirks reported with their JSON path, errors, and the host table."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from hanzo_edge.gateway.sidecar.document import parse_sidecar


def _parse(document: Any) -> Any:
    return parse_sidecar(json.dumps(document, indent=2), "ingress.json")


def test_defaults_are_hanzos() -> None:
    config = _parse({"routes": [{"host": "A.test", "backends": [{"path": "/", "url": "http://b:80"}]}]})
    assert config.ok
    assert (config.listen, config.health_path) == (":8080", "/__health")
    assert list(config.hosts) == ["a.test"]
    assert not config.warnings


def test_longest_prefix_first_and_ties_in_file_order() -> None:
    config = _parse(
        {
            "routes": [
                {
                    "host": "p.test",
                    "backends": [
                        {"path": "/", "url": "http://ui:80"},
                        {"path": "/api", "url": "http://api:4000"},
                        {"path": "/api", "url": "http://shadowed:1"},
                    ],
                }
            ]
        }
    )
    table = config.host_table()
    match = table.match("p.test", "/api/x")
    assert match is not None
    assert match.url == "http://api:4000"
    assert match.path == "/api/x"
    root = table.match("p.test", "/other")
    assert root is not None
    assert root.url == "http://ui:80"
    assert table.match("q.test", "/") is None
    assert [w.path for w in config.warnings] == [("routes", 0, "backends", 2, "path")]


def test_regex_paths_and_duplicate_hosts_are_warnings_with_their_location() -> None:
    config = _parse(
        {
            "routes": [
                {"host": "s3.test", "backends": [{"path": "/", "url": "http://first:9001"}]},
                {"host": "s3.test", "backends": [{"path": "/api/commerce(/|$)(.*)", "url": "http://second:9000"}]},
            ]
        }
    )
    assert config.ok
    rendered = [config.render(w) for w in config.warnings]
    assert any(
        r.startswith("$.routes[1].backends[0].path (line 16, column 19)") and "nginx-style" in r for r in rendered
    )
    assert any(r.startswith("$.routes[1].host (line") and "routes[0] is never used" in r for r in rendered)
    assert config.hosts["s3.test"].backends == (("/api/commerce(/|$)(.*)", "http://second:9000"),)


def test_unknown_keys_are_named() -> None:
    config = _parse({"routes": [{"host": "a", "backend": [], "backends": [{"path": "/", "url": "http://b"}]}]})
    assert [w.path for w in config.warnings] == [("routes", 0, "backend")]


def test_errors_name_the_value() -> None:
    config = _parse(
        {
            "listen": "nowhere",
            "health_path": "health",
            "routes": [
                {"host": "", "backends": []},
                {"host": "a", "auth": "yes", "backends": [{"path": "x", "url": "http://b"}, {"path": "/", "url": 3}]},
            ],
        }
    )
    assert not config.ok
    assert {e.path for e in config.errors} == {
        ("listen",),
        ("health_path",),
        ("routes", 0, "host"),
        ("routes", 1, "auth"),
        ("routes", 1, "backends", 0, "path"),
        ("routes", 1, "backends", 1, "url"),
    }


def test_a_syntax_error_has_its_line_and_column() -> None:
    config = parse_sidecar('{"routes": [\n  {"host": }\n]}', "ingress.json")
    assert not config.ok
    assert "line 2, column 12" in config.syntax_error


_KEYS = st.sampled_from(["host", "path", "url", "routes", "backends", "auth", "listen", "x"])
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=5),
    max_leaves=20,
)


@given(_json)
def test_any_json_is_checked_without_raising(document: Any) -> None:
    config = _parse(document)
    if config.ok:
        config.host_table()
