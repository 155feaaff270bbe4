"""Our fast YAML constructor gives exactly what ``yaml.load(..., CSafeLoader)`` gives."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from hanzo_edge.config.documents import _load_yaml

SCALAR_TEXT = st.sampled_from(
    ["1", "0", "010", "0x1F", "1_000", "-3", "+4", "1.5", ".5", "1e3", "3.0e2", ".inf", "-.Inf", ".nan", "yes", "No",
     "on", "OFF", "true", "False", "~", "null", "", "2001-12-14", "190:20:30", "'q'", '"x y"', "a b", "Host(`a`)",
     "http://10.0.0.1:80", "!!str 5", "!!int '7'", "0o17", "0b101"]
)  # fmt: skip
keys = st.text(alphabet="abcXYZ_-", min_size=1, max_size=6)
docs: st.SearchStrategy[Any] = st.recursive(
    SCALAR_TEXT,
    lambda children: st.dictionaries(keys, children, max_size=4) | st.lists(children, max_size=4),
    max_leaves=12,
)


def _render(doc: Any, indent: int = 0) -> str:
    pad = " " * indent
    if isinstance(doc, dict):
        if not doc:
            return "{}"
        return "\n" + "\n".join(f"{pad}{k}: {_render(v, indent + 2)}" for k, v in doc.items())
    if isinstance(doc, list):
        if not doc:
            return "[]"
        return "\n" + "\n".join(f"{pad}- {_render(v, indent + 2).lstrip()}" for v in doc)
    return str(doc)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True  # NaN
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


@settings(max_examples=300, deadline=None)
@given(doc=st.dictionaries(keys, docs, min_size=1, max_size=5))
def test_fast_loader_matches_pyyaml(doc: dict[str, Any]) -> None:
    text = _render(doc).lstrip("\n") + "\n"
    try:
        expected = yaml.load(text, Loader=yaml.CSafeLoader)
    except yaml.YAMLError as exc:
        with pytest.raises(type(exc)):
            _load_yaml(text)
        return
    assert _same(_load_yaml(text), expected), text


def test_merge_keys_and_anchors_are_flattened_like_pyyaml() -> None:
    text = "base: &b {x: 1, y: 2}\nderived:\n  <<: *b\n  y: 3\nlist: [*b, *b]\n"
    assert _load_yaml(text) == yaml.load(text, Loader=yaml.CSafeLoader)
