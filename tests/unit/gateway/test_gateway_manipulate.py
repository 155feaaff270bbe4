"""Lura's response formatting: target, allow/deny (nested), mapping, group, flatmap_filter."""

from __future__ import annotations

from typing import Any

from hanzo_edge.gateway.manipulate import (
    Formatter,
    allow_paths,
    apply_flatmap,
    deny_paths,
    extract_target,
    rename_keys,
)


def _data() -> dict[str, Any]:
    return {
        "id": 1,
        "name": "Ann",
        "address": {"city": "Paris", "zip": "75001", "geo": {"lat": 1, "lng": 2}},
        "tags": [{"k": "a", "v": 1}, {"k": "b", "v": 2}],
    }


def test_target_extracts_a_nested_object_or_nothing() -> None:
    assert extract_target(_data(), "address.geo") == {"lat": 1, "lng": 2}
    assert extract_target(_data(), "name") == {}
    assert extract_target(_data(), "missing.key") == {}


def test_allow_keeps_only_nested_paths() -> None:
    assert allow_paths(_data(), ["name", "address.city", "address.geo.lat"]) == {
        "name": "Ann",
        "address": {"city": "Paris", "geo": {"lat": 1}},
    }
    assert allow_paths(_data(), ["tags.k"]) == {"tags": [{"k": "a"}, {"k": "b"}]}
    assert allow_paths(_data(), ["nothing"]) == {}


def test_deny_drops_nested_paths_without_touching_the_input() -> None:
    data = _data()
    assert deny_paths(data, ["address.zip", "tags.v", "id"]) == {
        "name": "Ann",
        "address": {"city": "Paris", "geo": {"lat": 1, "lng": 2}},
        "tags": [{"k": "a"}, {"k": "b"}],
    }
    assert data == _data()


def test_mapping_renames_top_level_keys() -> None:
    assert rename_keys({"a": 1, "b": 2}, [("a", "x")]) == {"x": 1, "b": 2}


def test_formatter_order_target_allow_mapping_group() -> None:
    formatter = Formatter(target="address", allow=["city", "zip"], deny=["city"], mapping=[("city", "town")], group="g")
    assert formatter(_data()) == {"g": {"town": "Paris", "zip": "75001"}}  # allow wins over deny


def test_collection_mapping_as_krakend_collection_spec() -> None:
    formatter = Formatter(mapping=[("collection", "posts")])
    assert formatter({"collection": [1, 2]}) == {"posts": [1, 2]}


def test_flatmap_operations() -> None:
    ops = [
        ("move", ("address.city", "city")),
        ("del", ("address.geo",)),
        ("move", ("tags.*.v", "tags.*.value")),
        ("del", ("tags.0",)),
    ]
    assert apply_flatmap(_data(), ops) == {
        "id": 1,
        "name": "Ann",
        "city": "Paris",
        "address": {"zip": "75001"},
        "tags": [{"k": "b", "value": 2}],
    }
    assert apply_flatmap({"a": [1], "b": [2]}, [("append", ("a", "b"))]) == {"b": [2, 1]}
    assert apply_flatmap(_data(), [("del", ("tags.*.k",))])["tags"] == [{"v": 1}, {"v": 2}]


def test_flatmap_replaces_allow_deny_and_mapping() -> None:
    formatter = Formatter(allow=["id"], mapping=[("id", "x")], flatmap=[("del", ("tags",))], group="g")
    assert formatter(_data()) == {"g": {"id": 1, "name": "Ann", "address": _data()["address"]}}
