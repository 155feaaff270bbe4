"""The YAML load builds plain documents straight from libyaml's events (no node tree: the load's memory peak) and
leaves everything else to the node tree, with PyYAML's result or error either way (issue 22, 10,000 routers)."""

from __future__ import annotations

import tracemalloc
from typing import Any

import pytest
import yaml

from hanzo_edge.config.documents import _load_from_events, _load_yaml, _NeedsNodes


def pyyaml(text: str) -> Any:
    return yaml.load(text, Loader=yaml.CSafeLoader)


def from_events(text: str) -> Any:
    loader = yaml.CSafeLoader(text)
    try:
        return _load_from_events(loader)
    finally:
        loader.dispose()


PLAIN = [
    "",
    "# only a comment\n",
    "---\n",
    "--- 5\n...\n",
    "a: 1\nb: [x, 'y', \"z\", 2.5, .inf, ~, yes, 010, 0x1F]\nc: {d: {e: []}, f: {}}\n",
    "- 1\n- - 2\n  - {k: v}\n- []\n",
    "dup: 1\ndup: 2\n",
    "1: int key\n2.5: float key\nnull: null key\ntrue: bool key\n",
    "when: 2001-12-14\nraw: !!binary aGk=\nforced: !!str 5\nnum: !!int '7'\nlocal: ! 12\n",
    "http:\n  routers:\n    r:\n      rule: Host(`a.example.com`)\n      service: s\n",
]


@pytest.mark.parametrize("text", PLAIN)
def test_plain_documents_come_from_events_with_pyyamls_result(text: str) -> None:
    assert from_events(text) == pyyaml(text)
    assert _load_yaml(text) == pyyaml(text)


NODE_ONLY = [
    "base: &b {x: 1}\nuse: *b\n",
    "m:\n  <<: {a: 1}\n  b: 2\n",
    "s: !!set {a, b}\n",
    "o: !!omap [a: 1, b: 2]\n",
    "? [a, b]\n: 1\n",
    "? {a: 1}\n: 1\n",
    "--- 1\n--- 2\n",
    "x: *missing\n",
    "a: &x 1\nb: &x 2\n",
]


@pytest.mark.parametrize("text", NODE_ONLY)
def test_what_needs_the_node_tree_goes_there_with_pyyamls_result_or_error(text: str) -> None:
    with pytest.raises(_NeedsNodes):
        from_events(text)
    assert outcome(_load_yaml, text) == outcome(pyyaml, text)


def outcome(load: Any, text: str) -> tuple[str, Any]:
    """``("ok", data)`` or ``(error class, message)``."""
    try:
        return ("ok", load(text))
    except yaml.YAMLError as exc:
        return (type(exc).__name__, str(exc))


@pytest.mark.parametrize("text", ["a: [1, 2\n", "a: b: c\n", "- a\nb: 1\n", "a: 1\n--- [\n"])
def test_errors_are_pyyamls(text: str) -> None:
    with pytest.raises(yaml.YAMLError) as expected:
        pyyaml(text)
    with pytest.raises(type(expected.value)) as raised:
        _load_yaml(text)
    assert str(raised.value) == str(expected.value)


def routers_yaml(count: int) -> str:
    lines = ["http:", "  routers:"]
    for i in range(count):
        lines += [f"    decoy{i}:", f"      rule: Host(`svc-{i}.example.com`)", "      service: backend"]
    return "\n".join(lines) + "\n"


def test_the_load_peak_is_close_to_the_data_it_keeps() -> None:
    # The node tree made the peak ~8x the data kept (24 MiB for 3 MiB with 10,000 routers); from events the peak is the
    # data plus the events in flight. Bytes, not time: deterministic for a given interpreter.
    text = routers_yaml(2000)
    tracemalloc.start()
    try:
        data = _load_yaml(text)
        kept, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(data["http"]["routers"]) == 2000
    assert peak < 3 * kept, (kept, peak)


def test_equal_short_strings_are_one_object_in_the_loaded_data() -> None:
    data = _load_yaml(routers_yaml(3))
    routers = data["http"]["routers"]
    services = [router["service"] for router in routers.values()]
    assert services == ["backend"] * 3
    assert services[0] is services[1] is services[2]
    keys = [next(k for k in router if k == "rule") for router in routers.values()]
    assert keys[0] is keys[1] is keys[2]
    long_value = "x" * 100
    twice = _load_yaml(f"a: {long_value}\nb: {long_value}\n")
    assert twice == {"a": long_value, "b": long_value}  # long strings are kept as parsed, equal all the same
