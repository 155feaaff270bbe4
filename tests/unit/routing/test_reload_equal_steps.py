"""A snapshot comparison in slices (routing/equal_steps) answers what ``==`` answers, and gives the loop back."""

from __future__ import annotations

import asyncio
import math
from copy import deepcopy
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hanzo_edge.config.dynamic import Configuration, decode_dynamic
from hanzo_edge.config.types import FrozenDict
from hanzo_edge.routing import equal_steps as equal_steps_module
from hanzo_edge.routing import slices as slices_module
from hanzo_edge.routing.equal_steps import equal_in_steps
from hanzo_edge.routing.slices import run_steps, run_steps_async


class Leaf(msgspec.Struct, frozen=True):
    value: Any
    extra: Any = None


class Other(msgspec.Struct, frozen=True):
    value: Any
    extra: Any = None


class NoEq(msgspec.Struct, eq=False):
    value: Any


NAN = math.nan  # one object: == is False on it, but containers holding the same object compare equal

leaves = st.one_of(
    st.integers(-2, 2),
    st.sampled_from(["a", "b", ""]),
    st.just(NAN),
    st.floats(allow_nan=True, width=16),
    st.none(),
    st.booleans(),
)


def _nest(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    keys = st.sampled_from(["k1", "k2", "k3", 1, True])
    return st.one_of(
        st.dictionaries(keys, children, max_size=4),
        st.dictionaries(keys, children, max_size=4).map(FrozenDict),
        st.lists(children, max_size=3),
        st.tuples(children, children).map(lambda pair: Leaf(*pair)),
        st.tuples(children, children).map(lambda pair: Other(*pair)),
        children.map(NoEq),
    )


values = st.recursive(leaves, _nest, max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(values, values, st.booleans())
def test_the_sliced_comparison_answers_what_eq_answers(a: Any, b: Any, same: bool) -> None:
    if same:
        b = a  # identity and equal-but-distinct pieces are where the shortcuts differ from a naive walk
    assert run_steps(equal_in_steps(a, b)) is bool(a == b)
    assert _in_smallest_slices(a, b) is bool(a == b)


def _in_smallest_slices(a: Any, b: Any) -> bool:
    """The comparison with a check point at every map entry, each one yielding (Hypothesis runs no fixtures)."""
    saved = slices_module.SLICE_SECONDS, equal_steps_module._CHECK_EVERY
    slices_module.SLICE_SECONDS, equal_steps_module._CHECK_EVERY = 0.0, 1
    try:
        return asyncio.run(run_steps_async(equal_in_steps(a, b)))
    finally:
        slices_module.SLICE_SECONDS, equal_steps_module._CHECK_EVERY = saved


@settings(max_examples=100, deadline=None)
@given(values)
def test_a_deep_copy_compares_as_eq_says(a: Any) -> None:
    copy = deepcopy(a)  # equal pieces that are not the same objects: the walk goes all the way down
    assert run_steps(equal_in_steps(a, copy)) is bool(a == copy)


def _snapshot(routers: int, last_rule: str) -> Configuration:
    data = {
        "http": {
            "routers": {
                f"r{i:05d}": {"rule": last_rule if i == routers - 1 else f"Host(`h{i}.test`)", "service": f"s{i}"}
                for i in range(routers)
            },
            "services": {
                f"s{i}": {"loadBalancer": {"servers": [{"url": f"http://127.0.0.1:{8000 + i % 1000}"}]}}
                for i in range(routers)
            },
        }
    }
    config, warnings = decode_dynamic(data)
    assert not warnings
    return config


@pytest.mark.parametrize("last_rule", ["Host(`h1999.test`)", "Host(`changed.test`)"])
def test_a_snapshot_compared_in_slices_yields_at_its_check_points_and_answers_eq(
    monkeypatch: pytest.MonkeyPatch, last_rule: str
) -> None:
    monkeypatch.setattr(slices_module, "SLICE_SECONDS", 0.0)  # every check point yields
    old, new = _snapshot(2000, "Host(`h1999.test`)"), _snapshot(2000, last_rule)
    assert old is not new
    durations: list[float] = []
    answer = asyncio.run(run_steps_async(equal_in_steps(old, new), durations))
    assert answer is (old == new)
    # One check point every _CHECK_EVERY entries of each map: the routers' map, then (equal so far) the services'.
    per_map = 2000 // equal_steps_module._CHECK_EVERY
    assert len(durations) >= (2 * per_map if answer else per_map)
